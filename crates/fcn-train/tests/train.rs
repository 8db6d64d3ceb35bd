//! The training loop: exact resume, corrupt checkpoints, configuration errors.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use fcn_train::{CheckpointProblem, Event, Run, TrainConfig, TrainError, files};

/// A run small enough for a test: FCN-8s at width / 32 on 48x48 synthetic scenes.
fn tiny() -> TrainConfig {
    let mut c = TrainConfig::default();
    c.model.width_divisor = 32;
    // 8 batches per epoch: the stop after 3 steps (6 batches) falls mid-epoch.
    c.data.synthetic_train = 16;
    c.data.synthetic_val = 3;
    c.data.synthetic_height = 48;
    c.data.synthetic_width = 48;
    c.train.iterations = 6;
    c.train.batch_size = 2;
    c.train.accumulate = 2;
    c.train.eval_every = 3;
    c.train.checkpoint_every = 2;
    c.train.predictions = 2;
    c.model.dropout = 0.5;
    c
}

fn weights(dir: &Path) -> fcn_core::NamedTensors {
    fcn_core::read_safetensors(&dir.join(files::FINAL)).unwrap()
}

#[test]
fn a_resumed_run_ends_exactly_like_an_uninterrupted_one() {
    let root = tempfile::tempdir().unwrap();
    let straight = root.path().join("straight");
    let mut run = Run::create(tiny(), &straight).unwrap();
    let summary = run.train(&AtomicBool::new(false), |_| {}).unwrap();
    assert_eq!(summary.steps, 6);
    assert!(!summary.interrupted);
    assert!(summary.mean_iou.is_some() && summary.baseline_mean_iou.is_some());

    // Stop after step 3 (as Ctrl-C does), then resume in a new process-like Run.
    let split = root.path().join("split");
    let stop = AtomicBool::new(false);
    let mut run = Run::create(tiny(), &split).unwrap();
    let summary = run
        .train(&stop, |e| {
            if let Event::Step { step: 3, .. } = e {
                stop.store(true, Ordering::SeqCst);
            }
        })
        .unwrap();
    assert!(summary.interrupted);
    assert_eq!(summary.steps, 3);
    drop(run);
    let mut resumed = Run::resume(&split).unwrap();
    assert_eq!(resumed.step(), 3);
    resumed.train(&AtomicBool::new(false), |_| {}).unwrap();

    let (a, b) = (weights(&straight), weights(&split));
    assert_eq!(a.tensors.len(), b.tensors.len());
    for (name, t) in &a.tensors {
        assert_eq!(t, &b.tensors[name], "{name} differs after resuming");
    }
    // The logs agree step for step (losses identical), with no duplicated steps.
    let losses = |dir: &Path| -> Vec<(u64, f64)> {
        std::fs::read_to_string(dir.join(files::LOG))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| v["kind"] == "step")
            .map(|v| (v["step"].as_u64().unwrap(), v["loss"].as_f64().unwrap()))
            .collect()
    };
    assert_eq!(losses(&straight), losses(&split));
    assert_eq!(losses(&split).len(), 6);
    for stem in ["0000_image", "0000_gt", "0000_pred", "0001_pred"] {
        assert!(
            split
                .join(files::PREDICTIONS)
                .join(format!("{stem}.png"))
                .exists()
        );
    }
}

#[test]
fn corrupt_and_truncated_checkpoints_are_errors_naming_the_file() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("run");
    let mut config = tiny();
    config.train.iterations = 2;
    Run::create(config, &dir)
        .unwrap()
        .train(&AtomicBool::new(false), |_| {})
        .unwrap();
    let path = dir.join(files::CHECKPOINT);
    let good = std::fs::read(&path).unwrap();

    let mut flipped = good.clone();
    let last = flipped.len() - 5;
    flipped[last] ^= 0x40;
    std::fs::write(&path, &flipped).unwrap();
    let err = Run::resume(&dir).err().unwrap();
    assert!(
        matches!(
            &err,
            TrainError::Checkpoint {
                problem: CheckpointProblem::ChecksumMismatch { written, computed },
                ..
            } if written != computed
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("checkpoint.safetensors"), "{err}");
    assert!(err.to_string().contains("checksum"), "{err}");

    std::fs::write(&path, &good[..good.len() / 2]).unwrap();
    let err = Run::resume(&dir).err().unwrap();
    assert!(err.to_string().contains("checkpoint.safetensors"), "{err}");
    assert!(err.to_string().contains("truncated"), "{err}");
}

#[test]
fn configuration_errors_name_the_file_or_field() {
    let err = TrainConfig::from_toml("[train]\nbatchsize = 3\n", Path::new("my.toml")).unwrap_err();
    let text = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert!(
        text.contains("my.toml") && text.contains("batchsize"),
        "{text}"
    );
    let err = TrainConfig::from_toml("[optim]\nlr = -1.0\n", Path::new("x.toml")).unwrap_err();
    assert!(err.to_string().contains("optim.lr"), "{err}");
    // A value outside a closed set: the file, the line, the field and the allowed values.
    for (text, field, allowed) in [
        (
            "[model]\narch = \"fcn4s\"\n",
            "model.arch",
            "`fcn32s`, `fcn16s`, `fcn8s`, `fcn8s-atonce`",
        ),
        (
            "[train]\nseed = 1\n\n[optim]\nlr = 0.1\noptimizer = \"adamw\"\n",
            "optim.optimizer",
            "`sgd`, `adam`, `lars`",
        ),
        (
            "[optim]\nschedule = \"linear\"\n",
            "optim.schedule",
            "`fixed`, `step`, `poly`, `cosine`",
        ),
        ("[optim]\nloss = \"max\"\n", "optim.loss", "`mean` or `sum`"),
        (
            "[optim]\nclass_weights = \"inverse\"\n",
            "optim.class_weights",
            "`none` or `median-frequency`",
        ),
        (
            "[model]\npreprocess = \"tf\"\n",
            "model.preprocess",
            "`caffe` or `imagenet`",
        ),
        (
            "[distributed]\nmode = \"async\"\n",
            "distributed.mode",
            "`sync` or `local-sgd`",
        ),
        ("[train]\ndevice = \"tpu\"\n", "train.device", "cuda:N"),
    ] {
        let err = TrainConfig::from_toml(text, Path::new("bad.toml")).unwrap_err();
        let line = text.lines().count();
        let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
        assert!(
            chain.contains("bad.toml")
                && chain.contains(&format!("line {line}"))
                && chain.contains(&format!("field {field}"))
                && chain.contains(allowed),
            "{chain}"
        );
    }
    let ok = TrainConfig::from_toml("[train]\niterations = 7\n", Path::new("x.toml")).unwrap();
    assert_eq!(ok.train.iterations, 7);
    assert_eq!(ok.model, TrainConfig::default().model);
    // The written configuration reads back the same.
    let round = TrainConfig::from_toml(&tiny().to_toml(), Path::new("r.toml")).unwrap();
    assert_eq!(round, tiny());
}

#[test]
fn a_non_empty_run_directory_is_refused() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("something"), b"x").unwrap();
    let err = Run::create(tiny(), root.path()).err().unwrap();
    assert!(err.to_string().contains("--resume"), "{err}");
    let err = Run::resume(&root.path().join("absent")).err().unwrap();
    assert!(err.to_string().contains("config.toml"), "{err}");
}

#[test]
fn sliding_windows_cover_the_image_and_equal_whole_inference_when_large() {
    use fcn_core::{Arch, Device, Fcn, FcnConfig, Module, Tensor};
    let mut model = Fcn::new(FcnConfig::new(Arch::Fcn8s, 4).with_width_divisor(32), 3).unwrap();
    let mut k = 0u32;
    model.visit_params_mut(&mut |p| {
        if p.name.starts_with("score") {
            k += 1;
            let n = p.value.len();
            let values = (0..n)
                .map(|i| ((i as u32 * 7 + k) % 13) as f32 * 0.01 - 0.06)
                .collect();
            p.value = Tensor::from_vec(values, p.value.shape()).unwrap();
        }
    });
    let image = Tensor::from_vec(
        (0..3 * 40 * 52).map(|i| (i % 251) as f32 - 120.0).collect(),
        &[1, 3, 40, 52],
    )
    .unwrap();
    let whole = fcn_train::predict_labels(&model, image.clone(), Device::Cpu).unwrap();
    let big = fcn_train::predict_labels_sliding(&model, &image, Device::Cpu, 64, 32).unwrap();
    assert_eq!(whole, big);
    let tiled = fcn_train::predict_labels_sliding(&model, &image, Device::Cpu, 24, 16).unwrap();
    assert_eq!(tiled.len(), 40 * 52);
    assert!(tiled.iter().all(|&c| c < 4));
}

#[test]
fn prediction_and_training_normalise_identically() {
    use fcn_core::{Preprocess, PreprocessExt};
    use fcn_train::normalization;
    let image =
        ndarray::Array3::from_shape_fn((3, 4, 3), |(y, x, c)| (y * 70 + x * 13 + c * 101) as u8);
    let rgb: Vec<u8> = image.iter().copied().collect();
    for p in [Preprocess::Caffe, Preprocess::ImageNet] {
        let ours = p.apply(&rgb, 3, 4).unwrap();
        let loader = normalization(p).to_chw(&image).unwrap();
        assert_eq!(ours.data(), loader.as_slice().unwrap(), "{p}");
    }
}
