//! `fcn train`, `fcn predict`, `fcn report` and `fcn eval --model` end to end on tiny runs,
//! including a run killed with SIGKILL and resumed, and the ways the input can be wrong.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn fcn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fcn"))
        .args(args)
        .output()
        .unwrap()
}

fn tiny_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/train/tiny.toml")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn final_weights(dir: &Path) -> fcn::core::NamedTensors {
    fcn::core::read_safetensors(&dir.join("final.safetensors")).unwrap()
}

#[test]
fn a_run_killed_mid_way_and_resumed_ends_like_an_uninterrupted_one() {
    let root = tempfile::tempdir().unwrap();
    let config = tiny_config();
    let config = config.to_str().unwrap();
    let straight = root.path().join("straight");
    let out = fcn(&[
        "train",
        "--config",
        config,
        "--out",
        straight.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("validation mean IoU"), "{}", text(&out));

    // Kill -9 once the first checkpoint exists, then resume.
    let killed = root.path().join("killed");
    let mut child = Command::new(env!("CARGO_BIN_EXE_fcn"))
        .args([
            "train",
            "--config",
            config,
            "--out",
            killed.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let checkpoint = killed.join("checkpoint.safetensors");
    let start = Instant::now();
    while !checkpoint.exists() && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    assert!(checkpoint.exists(), "no checkpoint appeared");
    assert!(
        !killed.join("final.safetensors").exists(),
        "the run finished before it was killed; the test proves nothing"
    );
    let out = fcn(&["train", "--resume", killed.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));

    let (a, b) = (final_weights(&straight), final_weights(&killed));
    for (name, t) in &a.tensors {
        assert_eq!(t, &b.tensors[name], "{name}");
    }

    // The other subcommands on the finished run.
    let out = fcn(&["report", killed.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let html = std::fs::read_to_string(killed.join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("data:image/png;base64,"));

    let out = fcn(&[
        "eval",
        "--model",
        killed.to_str().unwrap(),
        "--data",
        "synthetic",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("mean IoU") && text(&out).contains("baseline"),
        "{}",
        text(&out)
    );

    let pred_dir = root.path().join("pred");
    let image = killed.join("predictions/0000_image.png");
    let out = fcn(&[
        "predict",
        "--weights",
        killed.to_str().unwrap(),
        "--out",
        pred_dir.to_str().unwrap(),
        "--logits",
        image.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    for name in [
        "0000_image_labels.png",
        "0000_image_overlay.png",
        "0000_image_logits.npy",
    ] {
        assert!(pred_dir.join(name).exists(), "{name}");
    }
    let labels = fcn::data::read_label_png(&pred_dir.join("0000_image_labels.png")).unwrap();
    assert_eq!(labels.dim(), (48, 48));
}

#[test]
fn bad_configurations_and_paths_fail_clearly_and_write_nothing() {
    let root = tempfile::tempdir().unwrap();
    let bad = root.path().join("bad.toml");
    std::fs::write(&bad, "[train]\nbatch_size = 0\n").unwrap();
    let run = root.path().join("run");
    let out = fcn(&[
        "train",
        "--config",
        bad.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(text(&out).contains("train.batch_size"), "{}", text(&out));
    assert!(!run.exists(), "a refused run left a directory behind");

    std::fs::write(&bad, "[trian]\niterations = 3\n").unwrap();
    let out = fcn(&[
        "train",
        "--config",
        bad.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("bad.toml") && text(&out).contains("trian"),
        "{}",
        text(&out)
    );

    // A value outside a closed set, in a file and on the command line: both list the allowed
    // values; the file's error names the file, the line and the field.
    std::fs::write(&bad, "[optim]\nlr = 0.01\nschedule = \"linear\"\n").unwrap();
    let out = fcn(&[
        "train",
        "--config",
        bad.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let said = text(&out);
    assert!(
        said.contains("bad.toml")
            && said.contains("line 3")
            && said.contains("optim.schedule")
            && said.contains("`fixed`, `step`, `poly`, `cosine`"),
        "{said}"
    );
    assert!(!run.exists());
    let out = fcn(&[
        "train",
        "--optimizer",
        "adamw",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(text(&out).contains("sgd, adam, lars"), "{}", text(&out));
    assert!(!run.exists());

    let out = fcn(&[
        "train",
        "--resume",
        root.path().join("nothing").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(text(&out).contains("config.toml"), "{}", text(&out));

    let out = fcn(&[
        "train",
        "--data",
        "voc:/no/such/VOC2012:train",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(text(&out).contains("/no/such/VOC2012"), "{}", text(&out));
    assert!(!run.exists());

    let out = fcn(&[
        "predict",
        "--weights",
        "/no/such.safetensors",
        "--out",
        run.to_str().unwrap(),
        "x.png",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("/no/such.safetensors"),
        "{}",
        text(&out)
    );

    let out = fcn(&["report", root.path().join("nothing").to_str().unwrap()]);
    assert!(!out.status.success());
}
