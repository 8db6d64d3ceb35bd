//! Weights: safetensors round trips, metadata, PyTorch `state_dict`s without metadata,
//! mismatch reports, torchvision VGG16 and staged initialisation.

use std::collections::BTreeMap;
use std::path::Path;

use fcn_core::{
    Arch, CoreError, Fcn, FcnConfig, Module, Preprocess, SplitMix64, Strictness,
    copy_matching_params, load_state_dict, safetensors_bytes, state_dict, vgg16_from_torchvision,
};
use fcn_tensor::Tensor;

fn random(shape: &[usize], seed: u64) -> Tensor {
    let mut rng = SplitMix64::new(seed);
    let n = shape.iter().product();
    Tensor::from_vec((0..n).map(|_| rng.next_normal() as f32).collect(), shape).unwrap()
}

fn randomised(arch: Arch, seed: u64) -> Fcn {
    let mut model = Fcn::new(FcnConfig::new(arch, 4).with_width_divisor(32), seed).unwrap();
    let mut i = 0;
    model.visit_params_mut(&mut |p| {
        i += 1;
        p.value = random(p.value.shape(), seed * 100 + i);
    });
    model
}

fn same_params(a: &Fcn, b: &Fcn) {
    let (a, b) = (state_dict(a), state_dict(b));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (name, t) in &a {
        assert_eq!(t, &b[name], "{name}");
    }
}

#[test]
fn save_and_load_round_trip_with_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let mut model = randomised(Arch::Fcn16s, 1);
    model.set_preprocess(Preprocess::ImageNet);
    model.save(&path).unwrap();
    let loaded = Fcn::load(&path, None).unwrap();
    assert_eq!(loaded.config(), model.config());
    same_params(&model, &loaded);
    // Only the final file is left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn a_plain_state_dict_is_recognised_from_its_tensors() {
    for arch in [Arch::Fcn32s, Arch::Fcn16s, Arch::Fcn8s] {
        let model = randomised(arch, 2);
        let bytes = safetensors_bytes(&state_dict(&model), &BTreeMap::new()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("torch.safetensors");
        std::fs::write(&path, bytes).unwrap();
        let loaded = Fcn::load(&path, None).unwrap();
        assert_eq!(loaded.arch(), arch);
        assert_eq!(loaded.num_classes(), 4);
        assert_eq!(loaded.config().width_divisor, 32);
        same_params(&model, &loaded);
    }
}

#[test]
fn mismatches_are_listed_together_and_change_nothing() {
    let mut model = randomised(Arch::Fcn8s, 3);
    let before = state_dict(&model);
    let mut tensors = before.clone();
    tensors.remove("conv1_1.weight");
    tensors.insert("conv9_9.weight".into(), Tensor::zeros(&[1]));
    tensors.insert("fc7.bias".into(), Tensor::zeros(&[3]));
    let err =
        load_state_dict(&mut model, &tensors, Strictness::Strict, Path::new("w.st")).unwrap_err();
    let CoreError::WeightsMismatch { problems, .. } = &err else {
        panic!("{err:?}")
    };
    let text = err.to_string();
    assert_eq!(problems.len(), 3, "{text}");
    assert!(text.contains("missing conv1_1.weight"), "{text}");
    assert!(text.contains("unexpected conv9_9.weight"), "{text}");
    assert!(text.contains("fc7.bias: the file has shape [3]"), "{text}");
    assert!(text.contains("w.st"), "{text}");
    assert_eq!(state_dict(&model), before);
    // Partial loading skips the absent and the unknown, but never a wrong shape.
    tensors.remove("fc7.bias");
    let report =
        load_state_dict(&mut model, &tensors, Strictness::Partial, Path::new("w")).unwrap();
    assert_eq!(report.missing, ["conv1_1.weight", "fc7.bias"]);
    assert_eq!(report.unexpected, ["conv9_9.weight"]);
}

#[test]
fn garbage_files_are_errors_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.safetensors");
    std::fs::write(&path, b"\x10\0\0\0\0\0\0\0{not json}").unwrap();
    let err = Fcn::load(&path, None).unwrap_err();
    assert!(err.to_string().contains("bad.safetensors"), "{err}");
    let err = Fcn::load(&dir.path().join("absent.safetensors"), None).unwrap_err();
    assert!(err.to_string().contains("absent.safetensors"), "{err}");
}

#[test]
fn torchvision_vgg16_maps_onto_the_backbone() {
    let mut model = Fcn::new(FcnConfig::new(Arch::Fcn32s, 4).with_width_divisor(32), 0).unwrap();
    let ours = state_dict(&model);
    let mut torchvision = BTreeMap::new();
    let convs = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28];
    let names: Vec<&String> = ours
        .keys()
        .filter(|k| k.starts_with("conv") && k.ends_with(".weight"))
        .collect();
    assert_eq!(names.len(), 13);
    // BTreeMap order is conv1_1 .. conv5_3.
    for (i, (name, index)) in names.iter().zip(convs).enumerate() {
        let w = random(ours[*name].shape(), i as u64);
        torchvision.insert(format!("features.{index}.weight"), w);
        let b_name = name.replace(".weight", ".bias");
        torchvision.insert(
            format!("features.{index}.bias"),
            random(ours[&b_name].shape(), 50 + i as u64),
        );
    }
    let fc6 = ours["fc6.weight"].shape().to_vec();
    let fc7 = ours["fc7.weight"].shape().to_vec();
    torchvision.insert(
        "classifier.0.weight".into(),
        random(&[fc6[0], fc6[1] * 49], 90),
    );
    torchvision.insert("classifier.0.bias".into(), random(&[fc6[0]], 91));
    torchvision.insert("classifier.3.weight".into(), random(&[fc7[0], fc7[1]], 92));
    torchvision.insert("classifier.3.bias".into(), random(&[fc7[0]], 93));
    torchvision.insert("classifier.6.weight".into(), random(&[1000, fc7[0]], 94));
    let mapped = vgg16_from_torchvision(&torchvision).unwrap();
    assert_eq!(mapped.len(), 30);
    let report =
        load_state_dict(&mut model, &mapped, Strictness::Partial, Path::new("vgg16")).unwrap();
    assert_eq!(report.loaded.len(), 30);
    assert_eq!(
        report.missing,
        ["score_fr.weight", "score_fr.bias", "upscore.weight"]
    );
    // C-order reshape: fc6[o, c, i, j] = classifier.0[o, c * 49 + i * 7 + j].
    let loaded = state_dict(&model);
    let flat = torchvision["classifier.0.weight"].data();
    let w = loaded["fc6.weight"].data();
    let cols = fc6[1] * 49;
    let (o, c, i, j) = (3, 2, 4, 5);
    assert_eq!(
        w[((o * fc6[1] + c) * 7 + i) * 7 + j],
        flat[o * cols + c * 49 + i * 7 + j]
    );
    assert_eq!(loaded["conv3_2.weight"], torchvision["features.12.weight"]);
}

#[test]
fn staged_initialisation_copies_by_name() {
    let fcn32 = randomised(Arch::Fcn32s, 4);
    let mut fcn16 = Fcn::new(FcnConfig::new(Arch::Fcn16s, 4).with_width_divisor(32), 9).unwrap();
    let copied = copy_matching_params(&mut fcn16, &fcn32);
    // 13 convs + fc6 + fc7 + score_fr, weights and biases; upscore has another name.
    assert_eq!(copied.len(), 32);
    let s16 = state_dict(&fcn16);
    let s32 = state_dict(&fcn32);
    assert_eq!(s16["fc6.weight"], s32["fc6.weight"]);
    assert!(s16["score_pool4.weight"].data().iter().all(|&v| v == 0.0));
}
