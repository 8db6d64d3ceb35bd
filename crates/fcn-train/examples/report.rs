//! Writes `RUN_DIR/report.html`; with `--train`, first trains a tiny run into `RUN_DIR`.
//!
//! ```text
//! cargo run -p fcn-train --example report -- RUN_DIR
//! cargo run --profile test -p fcn-train --example report -- --train /tmp/tiny-run
//! ```

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use fcn_train::{Event, Run, TrainConfig, write_report};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let train = args.first().is_some_and(|a| a == "--train");
    if train {
        args.remove(0);
    }
    let [dir] = args.as_slice() else {
        return Err("usage: report [--train] RUN_DIR".into());
    };
    let dir = PathBuf::from(dir);
    if train {
        let mut config = TrainConfig::default();
        config.train.iterations = 40;
        config.train.eval_every = 10;
        config.train.checkpoint_every = 20;
        config.train.batch_size = 4;
        config.model.width_divisor = 32;
        config.data.synthetic_train = 64;
        config.data.synthetic_val = 8;
        config.data.synthetic_height = 64;
        config.data.synthetic_width = 64;
        config.optim.lr = 3e-3;
        let mut run = Run::create(config, &dir)?;
        let summary = run.train(&AtomicBool::new(false), |event| {
            if let Event::Eval { .. } = event {
                println!("{event:?}");
            }
        })?;
        println!("{summary:?}");
    }
    let path = write_report(&dir)?;
    println!("wrote {}", path.display());
    Ok(())
}
