//! The `fcn` command-line tool.

mod train_progress;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use fcn::data::write_atomically;
use fcn::metrics::{DEFAULT_IGNORE_INDEX, OutOfRange};
use fcn::train::bench::metrics::{MetricsBenchOptions, run_metrics_bench};
use fcn::train::distributed::{Backend, Communicator, end_all_on_error, launch};
use fcn::train::{LabelFolders, read_class_names, score_folders};

// Training allocates and frees large activation buffers every step; mimalloc reuses them
// instead of returning them to the kernel and faulting them back in.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Fully Convolutional Networks for semantic segmentation.
#[derive(Debug, Parser)]
#[command(name = "fcn", version, about, long_about = None)]
struct Cli {
    /// Worker threads (default: one per core).
    #[arg(long, global = true, value_name = "N")]
    threads: Option<usize>,
    /// How the CPU computes 3x3 stride-1 convolutions: gemm (im2col + GEMM), winograd2 or
    /// winograd4 (Winograd F(2x2,3x3) or F(4x4,3x3)), or auto (per layer shape, from a fixed
    /// table). Default: gemm.
    #[arg(long, global = true, value_enum, value_name = "ALGO")]
    conv_algo: Option<fcn::tensor::ops::ConvAlgo>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train an FCN. With no arguments: the main job, FCN-8s on synthetic transit scenes.
    Train(Box<TrainArgs>),
    /// Score predicted label PNGs against ground-truth label PNGs (paired by file stem).
    Eval(EvalArgs),
    /// Look at a dataset, convert it to label PNGs, or preview its labels.
    #[command(subcommand)]
    Data(DataCommand),
    /// Segment images with a model: palette label PNGs, overlays and optional logits.
    Predict(PredictArgs),
    /// Write RUN_DIR/report.html: curves, per-class IoU, confusion matrix, overlays.
    Report(ReportArgs),
    /// Time the hot loops on fixed synthetic data.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Args)]
struct TrainArgs {
    /// A TOML configuration; fields it omits keep the main job's defaults.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Continue the run in this directory from its last checkpoint (its saved configuration
    /// is used; other flags are refused).
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = ["config", "out"])]
    resume: Option<PathBuf>,
    /// The run directory (default: runs/<arch>-<UTC time>).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    #[command(flatten)]
    overrides: fcn::train::ConfigOverrides,
    #[command(flatten)]
    launch: LaunchArgs,
}

/// How a command runs across processes (`fcn train`, `fcn bench allreduce`).
#[derive(Debug, Args)]
struct LaunchArgs {
    /// Data-parallel: `mpi` (one rank per process of `mpirun -np N` or `srun`; build with
    /// `--features mpi`) or `nccl` (one rank per GPU; `--features nccl`). For training,
    /// `train.batch_size` is then each rank's batch.
    #[arg(long, value_enum, default_value = "none")]
    distributed: Backend,
    /// Seconds a rank waits for the others in one collective before it exits with an error
    /// naming itself (a peer died or hung).
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    collective_timeout: u64,
}

#[derive(Debug, Args)]
struct PredictArgs {
    /// Weights (safetensors, ours or a pytorch-fcn state_dict), or a run directory.
    #[arg(long, visible_alias = "model", value_name = "W")]
    weights: PathBuf,
    /// The architecture (default: from the file).
    #[arg(long, value_enum)]
    arch: Option<fcn::core::Arch>,
    /// Number of classes (default: from the file).
    #[arg(long, value_name = "N")]
    num_classes: Option<usize>,
    /// Input normalisation (default: from the file, else caffe).
    #[arg(long, value_enum)]
    preprocess: Option<fcn::core::Preprocess>,
    /// Output folder (created if needed).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Also write the class scores as float32 .npy (classes x H x W).
    #[arg(long)]
    logits: bool,
    /// Images to segment (JPEG or PNG).
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum DataCommand {
    /// Sample count, image sizes and the pixel histogram of every class.
    Inspect(DataArgs),
    /// One label PNG per image, named by the image's file stem.
    Convert {
        #[command(flatten)]
        data: DataArgs,
        /// Output folder.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Also write each image as `<stem>_image.png`.
        #[arg(long)]
        images: bool,
    },
    /// A few colour overlays to look at.
    Preview {
        #[command(flatten)]
        data: DataArgs,
        /// Output folder.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// How many.
        #[arg(long, default_value_t = 8)]
        count: usize,
    },
}

#[derive(Debug, Args)]
struct DataArgs {
    /// The format: synthetic, coco, voc, sbd, cityscapes, ade20k, kitti, kitti-road, bdd100k,
    /// mapillary, railsem19.
    #[arg(long)]
    format: fcn::data::registry::DatasetFormat,
    /// The dataset's root folder (not needed for synthetic).
    #[arg(value_name = "ROOT")]
    root: Option<PathBuf>,
    /// The split (each format's first by default; see the docs).
    #[arg(long)]
    split: Option<String>,
    /// Label space: all (the dataset's own), voc21 or transit.
    #[arg(long, default_value = "all")]
    classes: fcn::data::registry::ClassChoice,
}

#[derive(Debug, Args)]
struct ReportArgs {
    /// The run directory of `fcn train`.
    #[arg(value_name = "RUN_DIR")]
    run_dir: PathBuf,
}

#[derive(Debug, Args)]
struct EvalArgs {
    /// Folder of ground-truth label PNGs (8/16-bit grayscale or palette indices).
    #[arg(long, value_name = "DIR", requires_all = ["pred", "num_classes"], conflicts_with = "model")]
    gt: Option<PathBuf>,
    /// Folder of predicted label PNGs, one per ground truth, same file stem.
    #[arg(long, value_name = "DIR", requires = "gt")]
    pred: Option<PathBuf>,
    /// Number of classes; labels are 0..N-1.
    #[arg(long, value_name = "N")]
    num_classes: Option<usize>,
    /// Evaluate a model instead: weights (safetensors) or a run directory of `fcn train`.
    #[arg(long, value_name = "W", requires = "data")]
    model: Option<PathBuf>,
    /// The dataset to evaluate the model on: `synthetic` or FORMAT:ROOT[:SPLIT].
    #[arg(long, value_name = "SPEC")]
    data: Option<fcn::data::registry::DataSpec>,
    /// Device for --model: cpu or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: fcn::tensor::Device,
    /// With --model: sliding-window inference with square tiles of this side (for images
    /// larger than the training crop); whole images by default.
    #[arg(long, value_name = "PIXELS", requires = "model")]
    window: Option<usize>,
    /// Step between tiles (default: two thirds of the window).
    #[arg(long, value_name = "PIXELS", requires = "window")]
    stride: Option<usize>,
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
    /// The gradient all-reduce of data-parallel training: FCN-8s gradients and a sweep of
    /// message sizes, under `mpirun -np N ... --distributed mpi` (rank 0 prints). Alone, it
    /// prints the sizes only. The main job's network (width / 8) is timed beside `--arch`.
    Allreduce(AllreduceBenchArgs),
}

/// The network a benchmark builds (`fcn bench model`, `fcn bench allreduce`).
#[derive(Debug, Args)]
struct BenchNetworkArgs {
    /// The variant.
    #[arg(long, value_enum, default_value = "fcn8s")]
    arch: fcn::core::Arch,
    /// Backbone width divisor (1 = the real VGG16).
    #[arg(long, default_value_t = 1)]
    width_divisor: usize,
    /// Number of classes.
    #[arg(long, default_value_t = 21)]
    num_classes: usize,
}

#[derive(Debug, Args)]
struct AllreduceBenchArgs {
    #[command(flatten)]
    network: BenchNetworkArgs,
    /// Gradient bucket size, MiB (`distributed.bucket_mib`).
    #[arg(long, value_name = "MIB", default_value_t = fcn::train::DistributedConfig::default().bucket_mib)]
    bucket_mib: usize,
    /// Largest message of the size sweep (4 KiB up, by 4x), MiB.
    #[arg(long, value_name = "MIB", default_value_t = 256)]
    max_mib: usize,
    /// Timed repeats of each case; the median is reported.
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    #[command(flatten)]
    launch: LaunchArgs,
    /// Write the timings as JSON to this file (rank 0).
    #[arg(long, value_name = "OUT")]
    json: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ModelBenchArgs {
    #[command(flatten)]
    network: BenchNetworkArgs,
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
    if let Some(algo) = cli.conv_algo {
        fcn::tensor::ops::set_conv_algo(algo);
    }
    match cli.command {
        Command::Train(args) => train(*args, cli.threads.is_some()),
        Command::Eval(args) => eval(args),
        Command::Predict(args) => predict(args),
        Command::Data(command) => data(command),
        Command::Report(args) => {
            let path = fcn::train::write_report(&args.run_dir)?;
            println!("{}", path.display());
            Ok(())
        }
        Command::Bench(BenchCommand::Metrics(args)) => bench_metrics(args),
        Command::Bench(BenchCommand::Ops(args)) => bench_ops(args),
        Command::Bench(BenchCommand::Model(args)) => bench_model(args),
        Command::Bench(BenchCommand::Allreduce(args)) => {
            bench_allreduce(args, cli.threads.is_some())
        }
    }
}

fn eval(args: EvalArgs) -> anyhow::Result<()> {
    if let Some(model) = &args.model {
        return eval_model(&args, model);
    }
    let (Some(gt), Some(pred), Some(num_classes)) =
        (args.gt.clone(), args.pred.clone(), args.num_classes)
    else {
        anyhow::bail!("give --gt, --pred and --num-classes (label folders), or --model and --data");
    };
    anyhow::ensure!(num_classes > 0, "--num-classes must be at least 1");
    let class_names = args
        .class_names
        .as_deref()
        .map(|path| read_class_names(path, num_classes))
        .transpose()?;
    let options = LabelFolders {
        gt_dir: gt,
        pred_dir: pred,
        num_classes,
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
    let report = score_folders(&options, |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    });
    bar.finish_and_clear();
    let report = report?;
    print_and_save(&report, args.json.as_deref())
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
    print_and_save(&result, args.json.as_deref())
}

fn bench_ops(args: OpsBenchArgs) -> anyhow::Result<()> {
    let result = fcn::train::bench::ops::run_ops_bench(args.device, args.repeats)?;
    print_and_save(&result, args.json.as_deref())
}

fn bench_model(args: ModelBenchArgs) -> anyhow::Result<()> {
    let options = fcn::train::bench::model::ModelBenchOptions {
        arch: args.network.arch,
        width_divisor: args.network.width_divisor,
        num_classes: args.network.num_classes,
        train_size: args.train_size,
        forward_size: args.forward_size,
        repeats: args.repeats,
        device: args.device,
    };
    let result = fcn::train::bench::model::run_model_bench(&options)?;
    print_and_save(&result, args.json.as_deref())
}

fn bench_allreduce(args: AllreduceBenchArgs, threads_set: bool) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.network.width_divisor > 0
            && args.network.num_classes > 0
            && args.bucket_mib > 0
            && args.max_mib > 0,
        "--width-divisor, --num-classes, --bucket-mib and --max-mib must be at least 1"
    );
    let comm = communicator(&args.launch, threads_set)?;
    let result = (|| {
        let options = fcn::train::bench::allreduce::AllreduceBenchOptions {
            arch: args.network.arch,
            width_divisor: args.network.width_divisor,
            num_classes: args.network.num_classes,
            bucket_mib: args.bucket_mib,
            repeats: args.repeats,
            max_bytes: args.max_mib << 20,
        };
        let result = fcn::train::bench::allreduce::run_allreduce_bench(comm.as_ref(), &options)?;
        if comm.rank() == 0 {
            print_and_save(&result, args.json.as_deref())?;
        }
        Ok(())
    })();
    end_all_on_error(comm.as_ref(), result)
}

fn train(args: TrainArgs, threads_set: bool) -> anyhow::Result<()> {
    let comm = communicator(&args.launch, threads_set)?;
    let result = train_as(args, std::rc::Rc::clone(&comm));
    end_all_on_error(comm.as_ref(), result)
}

/// The communicator `--distributed` asks for, whose collectives end the process after waiting
/// `--collective-timeout` seconds. With several ranks on one machine, the compute threads are
/// split between them (unless --threads or RAYON_NUM_THREADS says otherwise).
fn communicator(
    launch_args: &LaunchArgs,
    threads_set: bool,
) -> anyhow::Result<std::rc::Rc<dyn Communicator>> {
    let timeout = std::time::Duration::from_secs(launch_args.collective_timeout);
    let launched = launch(launch_args.distributed, timeout)?;
    if let Some(threads) = launched.threads.filter(|_| !threads_set) {
        // Fails only if the pool already exists, which then keeps its size.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global();
    }
    Ok(launched.comm)
}

fn train_as(args: TrainArgs, comm: std::rc::Rc<dyn Communicator>) -> anyhow::Result<()> {
    use fcn::train::{Run, TrainConfig};
    let leader = comm.rank() == 0;
    let (mut run, dir) = match &args.resume {
        Some(dir) => {
            anyhow::ensure!(
                args.overrides.is_empty(),
                "--resume continues a run with its saved configuration; other settings cannot change"
            );
            (Run::resume_with(dir, comm)?, dir.clone())
        }
        None => {
            let mut config = match &args.config {
                Some(path) => TrainConfig::from_file(path)?,
                None => TrainConfig::default(),
            };
            args.overrides.apply(&mut config);
            config.validate()?;
            let dir = args.out.clone().unwrap_or_else(|| {
                PathBuf::from("runs").join(format!("{}-{}", config.model.arch, utc_stamp()))
            });
            (Run::create_with(config, &dir, comm)?, dir)
        }
    };
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let stop = std::sync::Arc::clone(&stop);
        ctrlc::set_handler(move || {
            eprintln!("\ninterrupted: saving a checkpoint (Ctrl-C again to stop at once)");
            if stop.swap(true, std::sync::atomic::Ordering::SeqCst) {
                std::process::exit(130);
            }
        })
        .context("cannot install the Ctrl-C handler")?;
    }
    let (rank, ranks) = run.rank();
    if leader {
        eprintln!("run directory: {}", dir.display());
        if ranks > 1 {
            eprintln!("distributed: {ranks} ranks");
        }
    }
    let mut progress = train_progress::Progress::new(run.step());
    let summary = run.train(&stop, |event| {
        if leader {
            progress.event(event);
        }
    })?;
    progress.finish();
    if rank != 0 {
        return Ok(());
    }
    if summary.interrupted {
        eprintln!(
            "stopped at step {}; continue with: fcn train --resume {}",
            summary.steps,
            dir.display()
        );
        return Ok(());
    }
    let show = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{v:.4}"));
    println!(
        "trained {} steps in {:.0} s: validation mean IoU {} (majority-class baseline {})",
        summary.steps,
        summary.seconds,
        show(summary.mean_iou),
        show(summary.baseline_mean_iou)
    );
    println!("weights: {}", dir.join(fcn::train::files::FINAL).display());
    Ok(())
}

/// `YYYYmmdd-HHMMSS` in UTC, for default run names.
fn utc_stamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

fn predict(args: PredictArgs) -> anyhow::Result<()> {
    use fcn::core::{Fcn, FcnConfig};
    let weights = fcn::train::predict::model_path(&args.weights)?;
    let mut model = match (args.arch, args.num_classes) {
        (Some(arch), Some(n)) => {
            // The width comes from the file's conv1_1 (64 / channels).
            let probe = Fcn::load(&weights, None).ok();
            let divisor = probe.map_or(1, |m| m.config().width_divisor);
            Fcn::load(
                &weights,
                Some(FcnConfig::new(arch, n).with_width_divisor(divisor)),
            )?
        }
        (None, None) => Fcn::load(&weights, None)?,
        _ => anyhow::bail!("give both --arch and --num-classes, or neither (read from the file)"),
    };
    if let Some(p) = args.preprocess {
        model.set_preprocess(p);
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let options = fcn::train::predict::PredictOptions {
        logits: args.logits,
    };
    for image in &args.images {
        let written = fcn::train::predict::predict_image(&model, image, &args.out, options)
            .with_context(|| format!("cannot segment {}", image.display()))?;
        println!("{} -> {}", image.display(), written.labels.display());
    }
    Ok(())
}

fn eval_model(args: &EvalArgs, model: &std::path::Path) -> anyhow::Result<()> {
    let weights = fcn::train::predict::model_path(model)?;
    let mut net = fcn::core::Fcn::load(&weights, None)?;
    net.to_device(args.device)?;
    let spec = args
        .data
        .clone()
        .unwrap_or_else(fcn::data::registry::DataSpec::synthetic);
    // A run directory's configuration says how its synthetic scenes look.
    let config = match model.is_dir() {
        true => fcn::train::TrainConfig::from_file(&model.join(fcn::train::files::CONFIG))?,
        false => fcn::train::TrainConfig::default(),
    };
    let dataset = fcn::train::open_dataset(&spec, &config, false)?;
    anyhow::ensure!(
        dataset.classes().len() == net.num_classes(),
        "{} has {} classes but the model predicts {}",
        spec,
        dataset.classes().len(),
        net.num_classes()
    );
    let names = dataset.classes().names().to_vec();
    let bar = indicatif::ProgressBar::new(dataset.len() as u64);
    let inference = match args.window {
        Some(window) => {
            anyhow::ensure!(window > 0, "--window must be positive");
            let stride = args.stride.unwrap_or((window * 2 / 3).max(1));
            anyhow::ensure!(stride > 0, "--stride must be positive");
            fcn::train::Inference::Sliding { window, stride }
        }
        None => fcn::train::Inference::Whole,
    };
    let evaluation =
        fcn::train::evaluate_with(&net, dataset, args.device, 2, inference, |_, _| {
            bar.inc(1);
            Ok(())
        })?;
    bar.finish_and_clear();
    let report = evaluation.report(&names)?;
    print_and_save(&report, args.json.as_deref())?;
    if let Some(base) = evaluation.majority_baseline_miou() {
        println!("majority-class baseline mean IoU: {base:.4}");
    }
    Ok(())
}

/// Prints a result and, when asked, writes it as JSON (atomically) for scripts.
fn print_and_save<T: std::fmt::Display + serde::Serialize>(
    result: &T,
    json: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    println!("{result}");
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(result).context("cannot serialise the result")?;
        write_atomically(path, text.as_bytes())?;
    }
    Ok(())
}

fn data(command: DataCommand) -> anyhow::Result<()> {
    use fcn::data::registry::{DataSpec, OpenOptions};
    use fcn::data::tools;
    // Synthetic scenes are those of `fcn train`'s default configuration.
    let open = |a: &DataArgs| {
        let spec = DataSpec {
            format: a.format,
            root: a.root.clone(),
            split: a.split.clone(),
        };
        let options = OpenOptions {
            synthetic: fcn::train::synthetic_options(&fcn::train::TrainConfig::default().data),
            classes: a.classes,
        };
        spec.open_with(&options)
    };
    let bar = |len: usize| {
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            indicatif::ProgressBar::new(len as u64)
        } else {
            indicatif::ProgressBar::hidden()
        }
    };
    match command {
        DataCommand::Inspect(args) => {
            let dataset = open(&args)?;
            let progress = bar(dataset.len());
            let found = tools::inspect(dataset.as_ref(), || progress.inc(1))?;
            progress.finish_and_clear();
            println!("{found}");
        }
        DataCommand::Convert { data, out, images } => {
            let dataset = open(&data)?;
            let progress = bar(dataset.len());
            let n = tools::convert(dataset.as_ref(), &out, images, || progress.inc(1))?;
            progress.finish_and_clear();
            println!("wrote {n} label maps to {}", out.display());
        }
        DataCommand::Preview { data, out, count } => {
            let dataset = open(&data)?;
            for path in tools::preview(dataset.as_ref(), &out, count)? {
                println!("{}", path.display());
            }
        }
    }
    Ok(())
}
