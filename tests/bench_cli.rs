//! `fcn bench allreduce`: the sizes alone, and (with the `mpi` feature) timings under
//! `mpirun -np 2`.

use std::process::{Command, Output};

use fcn::core::Module;

const FCN: &str = env!("CARGO_BIN_EXE_fcn");

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn read_json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Sizes of the sweep from 4 KiB to 1 MiB by 4x.
const SWEEP_1_MIB: [u64; 5] = [4096, 16384, 65536, 262_144, 1_048_576];

#[test]
fn alone_it_reports_the_gradient_sizes_without_timings() {
    let root = tempfile::tempdir().unwrap();
    let json = root.path().join("ar.json");
    let out = Command::new(FCN)
        .args([
            "bench",
            "allreduce",
            "--width-divisor",
            "32",
            "--max-mib",
            "1",
        ])
        .args(["--json", json.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("nothing to time"), "{}", text(&out));
    let v = read_json(&json);
    assert_eq!(v["ranks"], 1);
    let cases = v["cases"].as_array().unwrap();
    // Width / 32, the main job's width / 8, then 4 KiB .. 1 MiB.
    assert_eq!(cases.len(), 2 + 5);
    // The gradients are every parameter but the frozen bilinear upsampling of FCN-8s
    // (upscore2, upscore_pool4: 4x4; upscore8: 16x16; classes x classes each).
    for (case, divisor) in cases.iter().zip([32, 8]) {
        let config =
            fcn::core::FcnConfig::new(fcn::core::Arch::Fcn8s, 21).with_width_divisor(divisor);
        let all = fcn::core::Fcn::new(config, 1).unwrap().num_values() as u64;
        let frozen = 21 * 21 * (16 + 16 + 256);
        assert_eq!(case["values"].as_u64().unwrap(), all - frozen, "{case}");
        assert_eq!(case["bytes"].as_u64().unwrap(), 4 * (all - frozen));
        assert!(case["median_s"].is_null());
    }
    for (case, bytes) in cases[2..].iter().zip(SWEEP_1_MIB) {
        assert_eq!(case["bytes"].as_u64().unwrap(), bytes);
        assert_eq!(case["tensors"], 1);
    }
}

#[cfg(feature = "mpi")]
#[test]
fn under_mpirun_rank_0_reports_timings_of_both_paths() {
    let root = tempfile::tempdir().unwrap();
    let json = root.path().join("ar.json");
    let out = Command::new("mpirun")
        .args(["-np", "2", "--oversubscribe", FCN, "bench", "allreduce"])
        .args([
            "--distributed",
            "mpi",
            "--width-divisor",
            "32",
            "--max-mib",
            "1",
        ])
        .args(["--repeats", "1", "--json", json.to_str().unwrap()])
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    // Rank 0 alone prints the table.
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .matches("over 2 rank(s)")
            .count(),
        1,
        "{}",
        text(&out)
    );
    let v = read_json(&json);
    assert_eq!(v["ranks"], 2);
    assert_eq!(v["backend"], "mpi");
    let cases = v["cases"].as_array().unwrap();
    // Width / 32, the main job's width / 8, then 4 KiB .. 1 MiB: every case timed.
    assert_eq!(cases.len(), 2 + 5);
    for case in cases {
        let (t, bytes) = (
            case["median_s"].as_f64().unwrap(),
            case["bytes"].as_f64().unwrap(),
        );
        assert!(t > 0.0 && case["flat_median_s"].as_f64().unwrap() > 0.0);
        // Two ranks: bus bandwidth = algorithm bandwidth = bytes / time.
        let algbw = case["algbw_gbps"].as_f64().unwrap();
        assert!((algbw - bytes / t / 1e9).abs() <= 1e-9 * algbw.max(1.0));
        assert_eq!(case["busbw_gbps"], case["algbw_gbps"]);
    }
}

/// `--conv-algo` is global: before or after the subcommand, and reported by `bench model`.
#[test]
fn bench_model_reports_the_conv_algo() {
    let root = tempfile::tempdir().unwrap();
    let json = root.path().join("model.json");
    let tiny = [
        "--width-divisor",
        "32",
        "--train-size",
        "64",
        "--forward-size",
        "64",
        "--repeats",
        "1",
    ];
    for (before, after, name) in [
        (vec![], vec![], "gemm"),
        (vec!["--conv-algo", "winograd4"], vec![], "winograd4"),
        (vec![], vec!["--conv-algo", "auto"], "auto"),
    ] {
        let out = Command::new(FCN)
            .args(before)
            .args(["bench", "model"])
            .args(tiny)
            .args(after)
            .args(["--json", json.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        assert!(
            text(&out).contains(&format!("conv algo: {name}")),
            "{}",
            text(&out)
        );
        assert_eq!(read_json(&json)["conv_algo"], name);
    }
    let out = Command::new(FCN)
        .args(["--conv-algo", "winograd", "bench", "ops"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("winograd4"), "{}", text(&out));
}
