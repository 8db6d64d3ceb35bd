//! `fcn train --distributed mpi` under `mpirun -np 2` (built with `--features mpi`; CI installs
//! Open MPI with scripts/install-mpi.sh): two ranks equal one process with twice the batch
//! (with Adam and with plain SGD, which would show a wrongly scaled gradient), a
//! killed or hung rank ends the job quickly with an error naming a rank, and the last
//! checkpoint resumes with another number of ranks.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const FCN: &str = env!("CARGO_BIN_EXE_fcn");

/// `mpirun -np N fcn ARGS`, allowed to run as root (CI containers).
fn mpirun(ranks: usize, args: &[&str]) -> Command {
    let mut c = Command::new("mpirun");
    c.args(["-np", &ranks.to_string(), "--oversubscribe", FCN])
        .args(args)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        // One compute thread per rank keeps the test quick on small machines.
        .env("RAYON_NUM_THREADS", "1");
    c
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn write_config(dir: &Path, name: &str, batch_size: usize, extra: &str) -> PathBuf {
    let path = dir.join(name);
    let text = format!(
        "[model]\nwidth_divisor = 32\n\
         [data]\nsynthetic_train = 24\nsynthetic_val = 5\nsynthetic_height = 48\nsynthetic_width = 48\n\
         [train]\nbatch_size = {batch_size}\nworkers = 1\npredictions = 3\n{extra}"
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn weights(path: &Path) -> fcn::core::NamedTensors {
    fcn::core::read_safetensors(path).unwrap()
}

fn max_difference(a: &Path, b: &Path) -> f32 {
    let (a, b) = (weights(a), weights(b));
    assert_eq!(
        a.tensors.keys().collect::<Vec<_>>(),
        b.tensors.keys().collect::<Vec<_>>()
    );
    let mut worst = 0f32;
    for (name, x) in &a.tensors {
        let (x, y) = (x.to_vec().unwrap(), b.tensors[name].to_vec().unwrap());
        for (p, q) in x.iter().zip(&y) {
            worst = worst.max((p - q).abs());
        }
    }
    worst
}

fn eval_records(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("log.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["kind"] == "eval")
        .collect()
}

/// The optimizers the equivalence test runs with, as `[optim]` TOML. Adam divides each update
/// by the gradient's running magnitude, so a gradient summed over ranks but scaled wrongly
/// steps almost as the right one does; plain SGD, with or without momentum, moves by the
/// gradient itself.
const OPTIMIZERS: [(&str, &str); 3] = [
    // The main job's recipe: Adam, cosine schedule.
    ("adam", ""),
    (
        "sgd",
        "optimizer = \"sgd\"\nlr = 0.01\nmomentum = 0.0\nschedule = \"fixed\"\n",
    ),
    (
        "sgd with momentum",
        "optimizer = \"sgd\"\nlr = 0.01\nmomentum = 0.9\nschedule = \"fixed\"\n",
    ),
];

/// Largest difference of final weights that still counts as the same training.
const SAME_WEIGHTS: f32 = 1e-5;

/// One process with batch 4 (not split: its gradient is used as computed) against two ranks
/// with batch 2 each, 6 steps with flips.
fn two_ranks_step_like_one_process(optimizer: usize) {
    let (name, optim) = OPTIMIZERS[optimizer];
    let root = tempfile::tempdir().unwrap();
    let steps = format!(
        "iterations = 6\neval_every = 3\ncheckpoint_every = 3\nbatch_split = 1\n[optim]\n{optim}"
    );
    let one = root.path().join("one");
    let two = root.path().join("two");
    let whole = write_config(root.path(), "whole.toml", 4, &steps);
    let half = write_config(root.path(), "half.toml", 2, &steps);
    let out = Command::new(FCN)
        .args(["train", "--config", whole.to_str().unwrap()])
        .args(["--out", one.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let out = mpirun(2, &["train", "--config", half.to_str().unwrap()])
        .args(["--out", two.to_str().unwrap(), "--distributed", "mpi"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("distributed: 2 ranks"),
        "{}",
        text(&out)
    );
    // One summary line: only rank 0 reports.
    assert_eq!(
        text(&out).matches("trained 6 steps").count(),
        1,
        "{}",
        text(&out)
    );

    let worst = max_difference(
        &one.join("final.safetensors"),
        &two.join("final.safetensors"),
    );
    assert!(worst < SAME_WEIGHTS, "{name}: weights differ by {worst}");
    if name.starts_with("sgd") {
        // The comparison is tight enough to see a gradient twice too large: for SGD without
        // weight decay, a doubled rate takes exactly that step.
        let doubled = root.path().join("doubled");
        let config = write_config(
            root.path(),
            "doubled.toml",
            4,
            &steps.replace("lr = 0.01\n", "lr = 0.02\n"),
        );
        let out = Command::new(FCN)
            .args(["train", "--config", config.to_str().unwrap()])
            .args(["--out", doubled.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        let moved = max_difference(
            &one.join("final.safetensors"),
            &doubled.join("final.safetensors"),
        );
        assert!(
            moved > 100.0 * SAME_WEIGHTS,
            "{name}: a doubled step moves by {moved} only"
        );
    }
    // Sharded evaluation merges to the same scores (per-image averages included), and rank 0
    // wrote the predictions of images evaluated on rank 1 too.
    let (a, b) = (eval_records(&one), eval_records(&two));
    assert_eq!(a.len(), 2);
    assert_eq!(b.len(), 2);
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x["confusion"], y["confusion"]);
        assert_eq!(x["report"]["num_images"], y["report"]["num_images"]);
        assert_eq!(x["report"]["per_image"], y["report"]["per_image"]);
    }
    for k in 0..3 {
        assert!(two.join(format!("predictions/{k:04}_pred.png")).exists());
    }
    // The logged losses are the whole global batch's, one per step on both sides.
    let losses = |dir: &Path| -> Vec<f64> {
        std::fs::read_to_string(dir.join("log.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| v["kind"] == "step")
            .map(|v| v["loss"].as_f64().unwrap())
            .collect()
    };
    let (a, b) = (losses(&one), losses(&two));
    assert_eq!((a.len(), b.len()), (6, 6));
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() < 1e-5, "{name}: loss {x} vs {y}");
    }
}

#[test]
fn two_ranks_with_batch_b_step_like_one_process_with_batch_2b() {
    two_ranks_step_like_one_process(0);
}

#[test]
fn two_ranks_with_batch_b_step_like_one_process_with_batch_2b_with_sgd() {
    two_ranks_step_like_one_process(1);
}

#[test]
fn two_ranks_with_batch_b_step_like_one_process_with_batch_2b_with_sgd_momentum() {
    two_ranks_step_like_one_process(2);
}

#[test]
fn local_sgd_and_linear_lr_scaling_run_and_agree_on_the_logged_rate() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("local");
    let config = write_config(
        root.path(),
        "local.toml",
        2,
        "iterations = 6\neval_every = 0\ncheckpoint_every = 3\n\
         [optim]\nlr = 0.001\nlr_reference_batch = 2\nschedule = \"fixed\"\n\
         [distributed]\nmode = \"local-sgd\"\naverage_every = 2\n",
    );
    let out = mpirun(2, &["train", "--config", config.to_str().unwrap()])
        .args(["--out", dir.to_str().unwrap(), "--distributed", "mpi"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let log = std::fs::read_to_string(dir.join("log.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    // Global batch 2 x 2 ranks = 4 = twice the reference batch: twice the rate.
    let lr = first["lr"].as_f64().unwrap();
    assert!((lr - 0.002).abs() < 1e-9, "{lr}");
    assert!(dir.join("final.safetensors").exists());
}

/// The rank processes `mpirun` started (its children whose environment names their rank).
fn rank_pids(mpirun_pid: u32) -> Vec<(usize, u32)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The parent pid is the second field after the parenthesised command name.
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let parent: Option<u32> = after.split_whitespace().nth(1).and_then(|p| p.parse().ok());
        if parent != Some(mpirun_pid) {
            continue;
        }
        let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        for var in env.split(|&b| b == 0) {
            if let Some(rank) = var.strip_prefix(b"OMPI_COMM_WORLD_RANK=")
                && let Ok(rank) = String::from_utf8_lossy(rank).parse()
            {
                found.push((rank, pid));
            }
        }
    }
    found.sort_unstable();
    found
}

/// Waits for `child` to exit, at most `limit`; its status and output.
fn wait_bounded(mut child: Child, limit: Duration) -> (std::process::ExitStatus, String, Duration) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut out = String::new();
            child
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut out)
                .unwrap();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut out)
                .unwrap();
            return (status, out, started.elapsed());
        }
        if started.elapsed() > limit {
            child.kill().unwrap();
            panic!("the job did not end within {limit:?} after a rank failed");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts a long 2-rank run and waits until its second checkpoint is written.
#[expect(
    clippy::zombie_processes,
    reason = "the child is returned; the caller waits for it"
)]
fn start_long_run(root: &Path, dir: &Path, extra_args: &[&str]) -> Child {
    let config = write_config(
        root,
        "long.toml",
        1,
        "iterations = 100000\neval_every = 0\ncheckpoint_every = 4\n",
    );
    let mut child = mpirun(2, &["train", "--config", config.to_str().unwrap()])
        .args(["--out", dir.to_str().unwrap(), "--distributed", "mpi"])
        .args(extra_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        let steps = std::fs::read_to_string(dir.join("log.jsonl"))
            .map(|l| l.lines().count())
            .unwrap_or(0);
        if steps >= 9 {
            return child;
        }
        if started.elapsed() > Duration::from_secs(120) {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("the run never got going");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn resume_with_one_process(dir: &Path) {
    let checkpoint = dir.join("checkpoint.safetensors");
    let saved = fcn::train::Checkpoint::load(&checkpoint).unwrap();
    assert!(saved.step >= 4, "{}", saved.step);
    assert_eq!(saved.global_batch, 2);
    // Finish the run with a single process (fewer ranks than it was started with).
    let config = dir.join("config.toml");
    let saved_config = std::fs::read_to_string(&config).unwrap();
    let shorter = saved_config.replace(
        "iterations = 100000",
        &format!("iterations = {}", saved.step + 2),
    );
    std::fs::write(&config, shorter).unwrap();
    let out = Command::new(FCN)
        .args(["train", "--resume", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(dir.join("final.safetensors").exists());
}

#[test]
fn a_killed_rank_ends_the_job_quickly_and_the_checkpoint_resumes_on_fewer_ranks() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("run");
    let child = start_long_run(root.path(), &dir, &[]);
    let ranks = rank_pids(child.id());
    assert_eq!(ranks.len(), 2, "{ranks:?}");
    let victim = ranks[1].1;
    let status = Command::new("kill")
        .args(["-9", &victim.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let (status, out, took) = wait_bounded(child, Duration::from_secs(60));
    assert!(!status.success(), "{out}");
    assert!(
        out.contains("rank 1"),
        "the error does not name the dead rank:\n{out}"
    );
    eprintln!("job ended {took:?} after rank 1 was killed:\n{out}");
    resume_with_one_process(&dir);
}

#[test]
fn a_hung_rank_is_caught_by_the_collective_timeout() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("run");
    let child = start_long_run(root.path(), &dir, &["--collective-timeout", "3"]);
    let ranks = rank_pids(child.id());
    assert_eq!(ranks.len(), 2, "{ranks:?}");
    let hung = ranks[1].1;
    let status = Command::new("kill")
        .args(["-STOP", &hung.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let (status, out, took) = wait_bounded(child, Duration::from_secs(60));
    // Let the stopped rank go, whatever happened (mpirun normally killed it already).
    let _ = Command::new("kill")
        .args(["-KILL", &hung.to_string()])
        .status();
    assert!(!status.success(), "{out}");
    assert!(
        out.contains("rank 0 of 2") && out.contains("waited more than 3 s"),
        "the error does not name the waiting rank and the timeout:\n{out}"
    );
    assert!(took < Duration::from_secs(30), "{took:?}");
    eprintln!("job ended {took:?} after rank 1 hung:\n{out}");
    resume_with_one_process(&dir);
}
