//! SBD: the MAT-file reader against scipy's `savemat` / `loadmat` (golden files made by
//! `tests/golden/make_sbd.py`), the SBD adapter and the `trainaug` union.

use std::path::{Path, PathBuf};

use fcn_data::mat::{ArrayClass, MatFile, Numbers, Value};
use fcn_data::sbd::{Sbd, SbdSplit, read_sbd_instances, read_sbd_label};
use fcn_data::{Dataset, LabelMap, read_label_png};
use ndarray::Array2;
use serde_json::Value as Json;

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

fn json(rel: &str) -> Json {
    serde_json::from_str(&std::fs::read_to_string(data(rel)).unwrap()).unwrap()
}

fn matrix(rows: &Json) -> Array2<u8> {
    let rows: Vec<Vec<u8>> = serde_json::from_value(rows.clone()).unwrap();
    let (h, w) = (rows.len(), rows[0].len());
    Array2::from_shape_vec((h, w), rows.concat()).unwrap()
}

fn f64s(v: &Json) -> Vec<f64> {
    serde_json::from_value(v.clone()).unwrap()
}

/// (row, column) of each stored value of a sparse matrix, sorted.
fn sparse_positions(value: &Value) -> Vec<[u64; 2]> {
    let Value::Sparse {
        row_indices,
        col_starts,
        ..
    } = value
    else {
        panic!("not sparse: {value:?}");
    };
    let rows = row_indices.to_f64();
    let starts = col_starts.to_f64();
    let mut out = Vec::new();
    for col in 0..starts.len() - 1 {
        for &row in &rows[starts[col] as usize..starts[col + 1] as usize] {
            out.push([row as u64, col as u64]);
        }
    }
    out.sort();
    out
}

#[test]
fn gtcls_segmentation_matches_loadmat_compressed_and_not() {
    let expected = json("sbd/golden/expected.json");
    let segmentation = matrix(&expected["segmentation"]);
    assert_eq!(segmentation.dim(), (5, 7));
    for name in ["compressed", "uncompressed"] {
        let path = data(&format!("sbd/golden/{name}.mat"));
        let file = MatFile::read(&path).unwrap();
        assert!(file.header_text().starts_with("MATLAB 5.0 MAT-file"));
        assert_eq!(file.u8_matrix("GTcls.Segmentation").unwrap(), segmentation);
        assert_eq!(read_sbd_label(&path).unwrap(), segmentation, "{name}");

        let gtcls = file.get("GTcls").unwrap();
        assert_eq!(gtcls.class, ArrayClass::Struct);
        assert_eq!(gtcls.dims, vec![1, 1]);
        let fields = gtcls.field_names().unwrap();
        assert_eq!(fields, ["Segmentation", "Boundaries", "CategoriesPresent"]);

        let present = gtcls.field("CategoriesPresent").unwrap();
        assert_eq!(present.class, ArrayClass::UInt8);
        assert_eq!(
            present.numbers().unwrap().to_f64(),
            f64s(&expected["categories_present"])
        );
        assert_eq!(present.dims[1], 1, "a column vector");

        let boundaries = gtcls.field("Boundaries").unwrap();
        assert_eq!(boundaries.class, ArrayClass::Cell);
        assert_eq!(boundaries.dims, vec![20, 1]);
        for k in 0..20 {
            let cell = boundaries.cell(k).unwrap();
            assert_eq!(cell.class, ArrayClass::Sparse);
            assert!(cell.logical);
            assert_eq!(cell.dims, vec![5, 7]);
            let want: Vec<[u64; 2]> =
                serde_json::from_value(expected["boundaries"][k].clone()).unwrap();
            assert_eq!(sparse_positions(&cell.value), want, "{name} cell {k}");
        }
    }
}

#[test]
fn other_classes_match_loadmat() {
    let expected = &json("sbd/golden/expected.json")["variety"];
    let mut parsed = Vec::new();
    for name in ["variety_compressed", "variety_uncompressed"] {
        let file = MatFile::read(&data(&format!("sbd/golden/{name}.mat"))).unwrap();
        for (var, class) in [
            ("dbl", ArrayClass::Double),
            ("i32", ArrayClass::Int32),
            ("u16", ArrayClass::UInt16),
            ("i64", ArrayClass::Int64),
        ] {
            let array = file.get(var).unwrap();
            assert_eq!(array.class, class, "{name} {var}");
            let dims: Vec<usize> = serde_json::from_value(expected[var]["dims"].clone()).unwrap();
            assert_eq!(array.dims, dims, "{name} {var}");
            assert_eq!(
                array.numbers().unwrap().to_f64(),
                f64s(&expected[var]["column_major"]),
                "{name} {var}"
            );
        }
        let Value::Char(text) = &file.get("txt").unwrap().value else {
            panic!("txt is not char");
        };
        assert_eq!(text, expected["txt"].as_str().unwrap());

        let flag = file.get("flag").unwrap();
        assert!(flag.logical);
        assert_eq!(
            flag.numbers().unwrap().to_f64(),
            f64s(&expected["flag"]["column_major"])
        );
        let Value::Numeric {
            real,
            imag: Some(imag),
        } = &file.get("cplx").unwrap().value
        else {
            panic!("cplx is not complex");
        };
        assert_eq!(real.to_f64(), f64s(&expected["cplx"]["real"]));
        assert_eq!(imag.to_f64(), f64s(&expected["cplx"]["imag"]));

        let nest = file.get("nest").unwrap();
        assert_eq!(
            file.u8_matrix("nest.inner.v").unwrap(),
            ndarray::array![[expected["nest_inner_v"].as_u64().unwrap() as u8]]
        );
        let cells = nest.field("cells").unwrap();
        assert_eq!(
            cells.cell(0).unwrap().numbers().unwrap(),
            &Numbers::Double(vec![expected["nest_cells"][0].as_f64().unwrap()])
        );
        assert_eq!(
            cells.cell(1).unwrap().value,
            Value::Char(expected["nest_cells"][1].as_str().unwrap().into())
        );

        let vol = file.get("vol").unwrap();
        assert_eq!(vol.dims, vec![2, 3, 4]);
        assert_eq!(
            vol.numbers().unwrap().to_f64(),
            f64s(&expected["vol"]["column_major"])
        );
        // Not 2-D: refused as a matrix, with the file and field named.
        let err = file.u8_matrix("vol").unwrap_err().to_string();
        assert!(err.contains(name) && err.contains("vol"), "{err}");
        parsed.push(file.variables().to_vec());
    }
    assert_eq!(parsed[0], parsed[1], "compression changes nothing");
}

#[test]
fn sbd_splits_read_images_and_mat_labels() {
    let expected = json("voc/expected.json");
    let root = data("sbd/dataset");
    let train = Sbd::open(&root, SbdSplit::Train).unwrap();
    let val = Sbd::open(&root, SbdSplit::Val).unwrap();
    assert_eq!(
        train.ids().collect::<Vec<_>>(),
        ["2007_000039", "2007_000033", "2008_000002"]
    );
    assert_eq!(
        val.ids().collect::<Vec<_>>(),
        ["2008_000003", "2007_000032"]
    );
    assert_eq!(train.classes().len(), 21);
    for dataset in [&train, &val] {
        for i in 0..dataset.len() {
            let sample = dataset.get(i).unwrap();
            let want = matrix(&expected["sbd_labels"][&sample.id]);
            assert_eq!(sample.label, LabelMap::U8(want), "{}", sample.id);
            assert_eq!(sample.dim(), sample.label.dim());
            let (image, label) = dataset.paths(i).unwrap();
            assert_eq!(sample.image_path.as_deref(), Some(image));
            assert_eq!(sample.label_path.as_deref(), Some(label));
        }
    }
    assert!(matches!(
        train.get(3),
        Err(fcn_data::Error::IndexOutOfRange { index: 3, len: 3 })
    ));
}

#[test]
fn mat_labels_equal_mmseg_converted_pngs() {
    // mmseg's voc_aug.py writes each SBD label as an L-mode PNG; both reads must agree.
    let root = data("sbd/dataset");
    let aug = data("voc/VOC2012/SegmentationClassAug");
    for id in [
        "2007_000039",
        "2007_000033",
        "2008_000002",
        "2008_000003",
        "2007_000032",
    ] {
        let from_mat = read_sbd_label(&root.join(format!("cls/{id}.mat"))).unwrap();
        let from_png = read_label_png(&aug.join(format!("{id}.png"))).unwrap();
        assert_eq!(LabelMap::U8(from_mat), from_png, "{id}");
    }
}

#[test]
fn trainaug_is_the_mmseg_union_in_a_fixed_order() {
    let expected = json("voc/expected.json");
    let set = Sbd::trainaug(&data("voc/VOC2012"), &data("sbd/dataset")).unwrap();
    let ids: Vec<&str> = set.ids().collect();
    // VOC train in file order, then SBD train + val minus VOC train and val.
    assert_eq!(
        ids,
        ["2007_000032", "2007_000039", "2008_000002", "2008_000003"]
    );
    let mut sorted: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    sorted.sort();
    let want: Vec<String> = serde_json::from_value(expected["trainaug_set"].clone()).unwrap();
    assert_eq!(sorted, want, "the set mmseg's voc_aug.py writes");
    // VOC ids keep their VOC label (with void); SBD-only ids come from the .mat files.
    let first = set.get(0).unwrap();
    assert_eq!(
        first.label,
        LabelMap::U8(matrix(&expected["labels"]["2007_000032"]))
    );
    assert!(
        first
            .label_path
            .unwrap()
            .ends_with("SegmentationClass/2007_000032.png")
    );
    let third = set.get(2).unwrap();
    assert_eq!(
        third.label,
        LabelMap::U8(matrix(&expected["sbd_labels"]["2008_000002"]))
    );
    assert!(third.label_path.unwrap().ends_with("cls/2008_000002.mat"));
}

#[test]
fn gtinst_instances_and_categories_match_loadmat() {
    let expected = json("sbd/golden/inst_expected.json");
    let (instances, categories) = read_sbd_instances(&data("sbd/golden/inst.mat")).unwrap();
    assert_eq!(instances, matrix(&expected["segmentation"]));
    assert_eq!(instances.dim(), (6, 4));
    let want: Vec<u8> = serde_json::from_value(expected["categories"].clone()).unwrap();
    assert_eq!(categories, want);
    // A class file is not an instance file: the error names the file and the variable.
    let err = read_sbd_instances(&data("sbd/golden/compressed.mat")).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("compressed.mat") && msg.contains("GTinst"),
        "{msg}"
    );
}
