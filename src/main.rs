//! The `fcn` command-line tool.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use fcn::atomic::write_atomically;
use fcn::bench::{MetricsBenchOptions, run_metrics_bench};
use fcn::eval::{EvalOptions, evaluate, read_class_names};
use fcn::metrics::{DEFAULT_IGNORE_INDEX, OutOfRange};

/// Fully Convolutional Networks for semantic segmentation.
#[derive(Debug, Parser)]
#[command(name = "fcn", version, about, long_about = None)]
struct Cli {
    /// Worker threads (default: one per core).
    #[arg(long, global = true, value_name = "N")]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Score predicted label PNGs against ground-truth label PNGs (paired by file stem).
    Eval(EvalArgs),
    /// Time the hot loops on fixed synthetic data.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Args)]
struct EvalArgs {
    /// Folder of ground-truth label PNGs (8/16-bit grayscale or palette indices).
    #[arg(long, value_name = "DIR")]
    gt: PathBuf,
    /// Folder of predicted label PNGs, one per ground truth, same file stem.
    #[arg(long, value_name = "DIR")]
    pred: PathBuf,
    /// Number of classes; labels are 0..N-1.
    #[arg(long, value_name = "N")]
    num_classes: usize,
    /// Ground-truth value to skip.
    #[arg(long, value_name = "V", default_value_t = DEFAULT_IGNORE_INDEX, conflicts_with = "no_ignore")]
    ignore_index: u32,
    /// Count every ground-truth value; no ignore value.
    #[arg(long)]
    no_ignore: bool,
    /// Skip other out-of-range ground-truth values silently, as FCN's score.py does, instead of
    /// failing on them.
    #[arg(long)]
    lenient: bool,
    /// Class names, one per line (blank lines and # comments skipped).
    #[arg(long, value_name = "FILE")]
    class_names: Option<PathBuf>,
    /// Also write the report as JSON to this file (written atomically).
    #[arg(long, value_name = "OUT")]
    json: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Confusion-matrix updates: single thread, batch over the pool, worst-case noise.
    Metrics(MetricsBenchArgs),
    /// Tensor kernels: GEMM, 3x3 convolution forward and backward, FCN upsampling, ceil-mode
    /// max pooling, cross-entropy.
    Ops(OpsBenchArgs),
    /// A whole network: an FCN training step (forward, loss, backward, SGD) and a forward
    /// pass, with peak memory.
    Model(ModelBenchArgs),
}

#[derive(Debug, Args)]
struct ModelBenchArgs {
    /// The variant: fcn32s, fcn16s, fcn8s or fcn8s-atonce.
    #[arg(long, default_value = "fcn8s")]
    arch: fcn::core::Arch,
    /// Backbone width divisor (1 = the real VGG16).
    #[arg(long, default_value_t = 1)]
    width_divisor: usize,
    /// Number of classes.
    #[arg(long, default_value_t = 21)]
    num_classes: usize,
    /// Side of the square training input (batch 1).
    #[arg(long, default_value_t = 512)]
    train_size: usize,
    /// Side of the square forward-only input (batch 1).
    #[arg(long, default_value_t = 224)]
    forward_size: usize,
    /// Timed runs of each; the median is reported.
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Device to run on: `cpu`, or `cuda:N` in a build with the `cuda` feature.
    #[arg(long, default_value = "cpu")]
    device: fcn::tensor::Device,
    /// Write the timings as JSON to this file.
    #[arg(long, value_name = "OUT")]
    json: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct OpsBenchArgs {
    /// Timed runs per case; the median is reported.
    #[arg(long, default_value_t = 10)]
    repeats: usize,
    /// Device to run on: `cpu`, or `cuda:N` in a build with the `cuda` feature.
    #[arg(long, default_value = "cpu")]
    device: fcn::tensor::Device,
    /// Write the timings as JSON to this file.
    #[arg(long, value_name = "OUT")]
    json: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct MetricsBenchArgs {
    /// Images per case.
    #[arg(long, default_value_t = MetricsBenchOptions::default().images)]
    images: usize,
    /// Image height.
    #[arg(long, default_value_t = MetricsBenchOptions::default().height)]
    height: usize,
    /// Image width.
    #[arg(long, default_value_t = MetricsBenchOptions::default().width)]
    width: usize,
    /// Timed runs per case; the median is reported.
    #[arg(long, default_value_t = MetricsBenchOptions::default().repeats)]
    repeats: usize,
    /// Write the timings as JSON to this file.
    #[arg(long, value_name = "OUT")]
    json: Option<PathBuf>,
    /// Write the 21-class data and its confusion matrix to this folder (for
    /// benches/metrics_vs_numpy.py).
    #[arg(long, value_name = "DIR")]
    dump: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(threads) = cli.threads {
        anyhow::ensure!(threads > 0, "--threads must be at least 1");
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global()
            .context("cannot start the thread pool")?;
    }
    match cli.command {
        Command::Eval(args) => eval(args),
        Command::Bench(BenchCommand::Metrics(args)) => bench_metrics(args),
        Command::Bench(BenchCommand::Ops(args)) => bench_ops(args),
        Command::Bench(BenchCommand::Model(args)) => bench_model(args),
    }
}

fn eval(args: EvalArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.num_classes > 0, "--num-classes must be at least 1");
    let class_names = args
        .class_names
        .as_deref()
        .map(|path| read_class_names(path, args.num_classes))
        .transpose()?;
    let options = EvalOptions {
        gt_dir: args.gt,
        pred_dir: args.pred,
        num_classes: args.num_classes,
        ignore_index: (!args.no_ignore).then_some(args.ignore_index),
        out_of_range: if args.lenient {
            OutOfRange::Skip
        } else {
            OutOfRange::Error
        },
        class_names,
    };
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} images, {per_sec}, eta {eta}",
        )
        .context("progress bar template")?,
    );
    let report = evaluate(&options, |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    });
    bar.finish_and_clear();
    let report = report?;
    println!("{report}");
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report).context("cannot serialise the report")?;
        write_atomically(path, json.as_bytes())?;
    }
    Ok(())
}

fn bench_metrics(args: MetricsBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.images > 0 && args.height > 0 && args.width > 0,
        "--images, --height and --width must be at least 1"
    );
    // Six copies of the data are held at once (three cases, prediction and target).
    const MAX_PIXELS: usize = 1 << 30;
    let pixels = args
        .images
        .checked_mul(args.height)
        .and_then(|p| p.checked_mul(args.width))
        .filter(|&p| p <= MAX_PIXELS);
    anyhow::ensure!(
        pixels.is_some(),
        "--images x --height x --width must be at most {MAX_PIXELS} pixels"
    );
    let options = MetricsBenchOptions {
        images: args.images,
        height: args.height,
        width: args.width,
        repeats: args.repeats,
    };
    let result = run_metrics_bench(&options, args.dump.as_deref())?;
    println!("{result}");
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&result).context("cannot serialise the timings")?;
        write_atomically(path, json.as_bytes())?;
    }
    Ok(())
}

fn bench_ops(args: OpsBenchArgs) -> anyhow::Result<()> {
    let result = fcn::bench_ops::run_ops_bench(args.device, args.repeats)?;
    println!("{result}");
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&result).context("cannot serialise the timings")?;
        write_atomically(path, json.as_bytes())?;
    }
    Ok(())
}

fn bench_model(args: ModelBenchArgs) -> anyhow::Result<()> {
    let options = fcn::bench_model::ModelBenchOptions {
        arch: args.arch,
        width_divisor: args.width_divisor,
        num_classes: args.num_classes,
        train_size: args.train_size,
        forward_size: args.forward_size,
        repeats: args.repeats,
        device: args.device,
    };
    let result = fcn::bench_model::run_model_bench(&options)?;
    println!("{result}");
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&result).context("cannot serialise the timings")?;
        write_atomically(path, json.as_bytes())?;
    }
    Ok(())
}
