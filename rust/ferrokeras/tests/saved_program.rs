//! Program files written by Python (`tests/keras/engine/saved_program_fixture.py`) load
//! and run in Rust with the same results, bit for bit; a loaded training program
//! continues where Python left it and saves again; newer versions and corrupt files are
//! clear errors, never panics.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ferrokeras::{Error, Program};
use ndarray::{arr0, Array1, ArrayD, ArrayViewD, IxDyn};
use safetensors::tensor::{SafeTensors, TensorView};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/saved_program")
        .join(name)
}

fn expected() -> BTreeMap<String, ArrayD<f32>> {
    let bytes = std::fs::read(fixture("expected.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(name, t)| {
            let v: Vec<f32> = t
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (name, ArrayD::from_shape_vec(IxDyn(t.shape()), v).unwrap())
        })
        .collect()
}

fn assert_bitwise(got: ArrayViewD<'_, f32>, want: ArrayViewD<'_, f32>, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    for (k, (a, b)) in got.iter().zip(want.iter()).enumerate() {
        assert_eq!(a.to_bits(), b.to_bits(), "{what}: element {k}: {a} != {b}");
    }
}

#[test]
fn a_python_cnn_program_predicts_what_python_predicted_bitwise() -> ferrokeras::Result<()> {
    let e = expected();
    let p = Program::load(fixture("cnn_predict.fkp"))?;
    assert_eq!(p.n_inputs(), 1);
    assert_eq!(p.input_name(0), "pixels");
    assert_eq!(p.metadata()["keras.kind"], "inference");
    let out = p.run(&[e["predict.x"].view()])?;
    assert_eq!(out.len(), 1);
    assert_bitwise(out[0].as_f32()?, e["predict.y"].view(), "predict");
    // an inference program draws no dropout mask: a second call gives the same result
    let again = p.run(&[e["predict.x"].view()])?;
    assert_eq!(again, out);
    Ok(())
}

/// One training step's feeds in the program's input order: x, y, sample weights, phase.
fn step(p: &Program, x: &ArrayD<f32>, y: &ArrayD<f32>) -> ferrokeras::Result<Vec<f32>> {
    let w: ArrayD<f32> = Array1::ones(x.shape()[0]).into_dyn();
    let phase = arr0(1.0f32).into_dyn();
    let names: Vec<&str> = (0..p.n_inputs()).map(|i| p.input_name(i)).collect();
    assert_eq!(
        names,
        [
            "features",
            "probs_target",
            "probs_sample_weights",
            "keras_learning_phase"
        ]
    );
    let out = p.run(&[x.view(), y.view(), w.view(), phase.view()])?;
    out.iter()
        .map(|t| Ok(*t.as_f32()?.first().expect("a scalar output")))
        .collect()
}

#[test]
fn a_python_training_program_continues_in_rust_exactly_as_in_python() -> ferrokeras::Result<()> {
    let e = expected();
    let p = Program::load(fixture("mlp_train.fkp"))?;
    assert_eq!(p.metadata()["keras.kind"], "training");
    for i in 0..3 {
        let out = step(&p, &e[&format!("train.x.{i}")], &e[&format!("train.y.{i}")])?;
        let want = &e[&format!("train.out.{i}")];
        assert_bitwise(
            ArrayViewD::from_shape(IxDyn(&[out.len()]), &out).unwrap(),
            want.view(),
            &format!("step {i} loss and accuracy"),
        );
    }
    let finals: Vec<&String> = e.keys().filter(|k| k.starts_with("train.final.")).collect();
    assert!(finals.len() >= 4, "weights and optimizer state are checked");
    for key in finals {
        let name = key.trim_start_matches("train.final.");
        assert_bitwise(p.variable(name)?.as_f32()?, e[key].view(), name);
    }
    Ok(())
}

#[test]
fn a_loaded_program_saves_the_same_bytes_and_a_continued_one_loads_again() -> ferrokeras::Result<()>
{
    let e = expected();
    let original = std::fs::read(fixture("mlp_train.fkp")).unwrap();
    let p = Program::from_bytes(&original)?;
    // Rust writes what Python wrote, byte for byte
    assert_eq!(p.to_bytes(p.metadata())?, original);

    step(&p, &e["train.x.0"], &e["train.y.0"])?;
    let dir = std::env::temp_dir().join(format!("ferrokeras-saved-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("continued.fkp");
    p.save(&path)?;
    let q = Program::load(&path)?;
    assert_eq!(q.metadata(), p.metadata());
    // both take step 2 with the same weights, optimizer state and dropout counters
    let a = step(&p, &e["train.x.1"], &e["train.y.1"])?;
    let b = step(&q, &e["train.x.1"], &e["train.y.1"])?;
    assert_eq!(a, b);
    let want = &e["train.out.1"];
    assert_eq!(a[0].to_bits(), want[[0]].to_bits());
    std::fs::remove_dir_all(&dir).unwrap();
    Ok(())
}

/// The fixture with its graph document edited by `edit`.
fn with_document(edit: impl Fn(&str) -> String) -> Vec<u8> {
    let bytes = std::fs::read(fixture("cnn_predict.fkp")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let doc = header.metadata().as_ref().unwrap()["ferrokeras.program"].clone();
    let tensors: Vec<(String, TensorView<'_>)> = st.tensors();
    let meta = std::collections::HashMap::from([("ferrokeras.program".to_string(), edit(&doc))]);
    safetensors::serialize(tensors, Some(meta)).unwrap()
}

#[test]
fn a_newer_format_version_is_refused_with_a_clear_error() {
    let bytes = with_document(|d| d.replacen("\"version\":1", "\"version\":2", 1));
    let err = Program::from_bytes(&bytes).unwrap_err();
    match err {
        Error::Unsupported(m) => {
            assert!(m.contains("format version 2"), "{m}");
            assert!(m.contains("upgrade ferrokeras"), "{m}");
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

#[test]
fn corrupt_files_are_errors_naming_the_problem() {
    let good = std::fs::read(fixture("cnn_predict.fkp")).unwrap();
    let msg = |bytes: &[u8]| match Program::from_bytes(bytes) {
        Err(Error::Value(m)) => m,
        other => panic!("expected a Value error, got {other:?}"),
    };
    assert!(msg(&good[..good.len() / 2]).contains("corrupt program file"));
    assert!(msg(b"not a program at all").contains("not a safetensors file"));
    let plain = safetensors::serialize(Vec::<(String, TensorView<'_>)>::new(), None).unwrap();
    assert!(msg(&plain).contains("not a ferrokeras program"));
    let m = msg(&with_document(|d| {
        d.replacen("\"name\":\"conv2d\"", "\"name\":\"no_such_op\"", 1)
    }));
    assert!(m.contains("no_such_op"), "{m}");
    let m = msg(&with_document(|d| {
        d.replacen("\"inputs\":[1,", "\"inputs\":[99,", 1)
    }));
    assert!(m.contains("does not precede it"), "{m}");
    let m = msg(&with_document(|_| {
        "{\"format\":\"ferrokeras.program\"}".to_string()
    }));
    assert!(m.contains("no 'version'"), "{m}");
    let err = Program::load(fixture("no_such_file.fkp")).unwrap_err();
    assert!(
        matches!(&err, Error::Io(m) if m.contains("no_such_file.fkp")),
        "{err:?}"
    );
}

#[test]
fn no_damaged_byte_makes_the_loader_panic() {
    let good = std::fs::read(fixture("cnn_predict.fkp")).unwrap();
    let header_end = 8 + u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let positions = (0..header_end)
        .step_by(3)
        .chain((header_end..good.len()).step_by(97));
    for pos in positions {
        for flip in [0x01u8, 0x20, 0xff] {
            let mut bad = good.clone();
            bad[pos] ^= flip;
            let r = std::panic::catch_unwind(|| Program::from_bytes(&bad).map(|_| ()));
            assert!(r.is_ok(), "byte {pos} ^ {flip:#x} made the loader panic");
        }
    }
}
