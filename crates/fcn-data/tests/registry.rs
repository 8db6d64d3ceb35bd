//! Opening datasets by `FORMAT:ROOT[:SPLIT]`, natively and in the transit taxonomy.

use std::path::Path;

use fcn_data::Dataset;
use fcn_data::registry::{ClassChoice, DataSpec, DatasetFormat, OpenOptions, open_dataset};
use fcn_data::taxonomy::Remapped;

fn data(dir: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(dir)
        .display()
        .to_string()
}

#[test]
fn real_format_fixtures_open_through_the_registry() {
    let cityscapes = DataSpec::parse(&format!("cityscapes:{}:val", data("cityscapes")))
        .unwrap()
        .open()
        .unwrap();
    assert_eq!(cityscapes.len(), 1);
    assert_eq!(cityscapes.classes().len(), 19);
    let sample = cityscapes.get(0).unwrap();
    assert_eq!(sample.dim(), (128, 256));

    let bdd = open_dataset(
        DatasetFormat::Bdd100k,
        Path::new(&data("bdd100k")),
        Some("val"),
    )
    .unwrap();
    assert_eq!(bdd.len(), 3);

    // In the transit taxonomy: Cityscapes train ids keep their values (the first 19 classes).
    let source = DatasetFormat::Cityscapes.transit_source().unwrap();
    let transit = Remapped::to_transit(cityscapes.clone(), source);
    assert_eq!(transit.classes().len(), 20);
    assert_eq!(transit.get(0).unwrap().label, sample.label);
    // The same through the registry's label-space choice.
    let spec = DataSpec::parse(&format!("cityscapes:{}:val", data("cityscapes"))).unwrap();
    let options = OpenOptions {
        classes: ClassChoice::Transit,
        ..Default::default()
    };
    let transit = spec.open_with(&options).unwrap();
    assert_eq!(transit.classes().len(), 20);
    assert_eq!(transit.get(0).unwrap().label, sample.label);

    let err = open_dataset(
        DatasetFormat::Cityscapes,
        Path::new("/no/such/root"),
        Some("val"),
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("/no/such/root"), "{err}");
}
