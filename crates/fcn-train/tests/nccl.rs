//! The NCCL communicator, as one process (an MPI singleton: run the test binary directly, or
//! under `mpirun -np 1`). A binary of its own, with one test, because MPI can be initialised
//! only once per process.
//!
//! Without a GPU or NCCL (CI), set-up must fail with an error that names what is missing, not
//! panic. With both, the one-rank collectives run NCCL on the GPU and give back their input.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use fcn_core::tensor::interop;
use fcn_core::{Device, Tensor};
use fcn_train::TrainError;
use fcn_train::distributed::{Communicator, Nccl};

#[test]
fn nccl_init_is_an_error_without_gpu_or_nccl_and_one_rank_collectives_keep_values() {
    let nccl_present = interop::nccl_available(0).is_ok();
    let gpus = interop::device_count().unwrap_or(0);
    match Nccl::init(Duration::from_secs(120)) {
        Err(e) => {
            let text = e.to_string();
            assert!(
                matches!(
                    e,
                    TrainError::Distributed {
                        backend: "nccl",
                        rank: 0,
                        ranks: 1,
                        ..
                    }
                ),
                "{e:?}"
            );
            if !nccl_present {
                assert!(text.contains("libnccl"), "{text}");
                assert!(text.contains("LD_LIBRARY_PATH"), "{text}");
            }
            if gpus == 0 {
                assert!(
                    text.contains("libcuda") || text.contains("no GPU"),
                    "{text}"
                );
            }
            assert!(
                !nccl_present || gpus == 0,
                "NCCL and {gpus} GPU(s) are present, yet: {text}"
            );
            println!("no NCCL communicator here, as expected: {text}");
        }
        Ok(comm) => one_rank_collectives(&comm),
    }
}

fn one_rank_collectives(comm: &Nccl) {
    assert_eq!((comm.rank(), comm.size(), comm.backend()), (0, 1, "nccl"));
    let device = comm.device().unwrap();
    assert_eq!(device, Device::Cuda(comm.ordinal()));
    let values = |n: usize, k: f32| (0..n).map(|i| i as f32 * k - 3.0).collect::<Vec<f32>>();
    let cpu = Tensor::from_vec(values(5, 0.5), &[5]).unwrap();
    let big = Tensor::from_vec(values(3 * 1000, 0.25), &[3, 10, 10, 10])
        .unwrap()
        .to_device(device)
        .unwrap();
    let small = Tensor::from_vec(values(7, 2.0), &[7])
        .unwrap()
        .to_device(device)
        .unwrap();
    let empty = Tensor::zeros(&[0, 4]).to_device(device).unwrap();
    let original: Vec<Vec<f32>> = [&cpu, &big, &small, &empty]
        .iter()
        .map(|t| t.to_vec().unwrap())
        .collect();
    // Buckets of 1000 values: `big` alone, then `small` (and the empty tensor, skipped).
    let mut tensors = vec![cpu, big.clone(), small, empty];
    comm.all_reduce_sum_tensors(&mut tensors, 1000).unwrap();
    let check = |tensors: &[Tensor]| {
        for (t, want) in tensors.iter().zip(&original) {
            assert_eq!(&t.to_vec().unwrap(), want);
        }
        assert_eq!(tensors[0].device(), Device::Cpu);
        assert!(tensors[1..].iter().all(|t| t.device() == device));
        assert_eq!(tensors[1].shape(), &[3, 10, 10, 10]);
    };
    check(&tensors);
    // The sum is a new buffer: the tensor handed in keeps its values.
    assert_ne!(tensors[1], big);
    comm.broadcast_tensors(&mut tensors, 0).unwrap();
    check(&tensors);
    assert!(comm.broadcast_tensors(&mut tensors, 1).is_err());
    let mut scalars = [1.5f64, -2.0];
    comm.all_reduce_sum_f64(&mut scalars).unwrap();
    assert_eq!(scalars, [1.5, -2.0]);
    let mut bytes = b"nccl".to_vec();
    comm.broadcast_bytes(&mut bytes, 0).unwrap();
    assert_eq!(bytes, b"nccl");
    println!("one-rank NCCL collectives on {device}: values kept");
}
