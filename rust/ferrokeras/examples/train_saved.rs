//! Continues training a model in Rust: loads a training program saved by Python (the
//! Keras train step with its optimizer state and dropout counters), takes more epochs
//! of steps on MNIST digits, and saves it again. Python (`keras.models.load_program`)
//! or Rust can load the result and go on.
//!
//! ```text
//! python examples/mnist_mlp.py --epochs 2 --save-training-program mnist_train.fkp
//! cargo run --release -p ferrokeras --example train_saved -- mnist_train.fkp mnist_train_more.fkp 2
//! ```
//!
//! Inputs are fed by the names the program records (`keras.input_names`): the pixels,
//! the one-hot targets, the sample weights (ones) and the learning phase (1 = train).

use std::io::Read;

use ferrokeras::Program;
use ndarray::{s, Array1, Array2, ArrayD, ArrayViewD};

fn read_gz(path: &str) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path)?).read_to_end(&mut out)?;
    Ok(out)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (src, dst) = match (args.get(1), args.get(2)) {
        (Some(a), Some(b)) => (a.clone(), b.clone()),
        _ => return Err("usage: train_saved IN.fkp OUT.fkp [EPOCHS]".into()),
    };
    let epochs: usize = args.get(3).map_or(Ok(1), |e| e.parse())?;
    let program = Program::load(&src)?;
    if program.metadata().get("keras.kind").map(String::as_str) != Some("training") {
        return Err(format!("{src} is not a training program (save it with training=True)").into());
    }
    let names: Vec<String> = (0..program.n_inputs())
        .map(|i| program.input_name(i).to_string())
        .collect();
    let output_names: Vec<String> = program
        .metadata()
        .get("keras.output_names")
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_else(|| vec!["loss".to_string()]);

    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/data/mnist");
    let images = read_gz(&format!("{dir}/t10k-images-idx3-ubyte.gz"))?;
    let labels = read_gz(&format!("{dir}/t10k-labels-idx1-ubyte.gz"))?;
    let pixels =
        Array2::from_shape_vec((10_000, 784), images[16..].to_vec())?.mapv(|p| p as f32 / 255.0);
    let mut onehot = Array2::<f32>::zeros((10_000, 10));
    for (row, &l) in labels[8..].iter().enumerate() {
        onehot[[row, l as usize]] = 1.0;
    }
    let (n_train, batch) = (8000, 128);
    let phase = ndarray::arr0(1.0f32).into_dyn();

    for epoch in 1..=epochs {
        let mut sums = vec![0.0f64; program.n_outputs()];
        let mut start = 0;
        while start < n_train {
            let end = (start + batch).min(n_train);
            let x = pixels.slice(s![start..end, ..]).into_dyn();
            let y = onehot.slice(s![start..end, ..]).into_dyn();
            let w: ArrayD<f32> = Array1::ones(end - start).into_dyn();
            let mut feeds: Vec<ArrayViewD<'_, f32>> = Vec::with_capacity(names.len());
            for name in &names {
                feeds.push(if name.ends_with("_target") {
                    y.view()
                } else if name.ends_with("_sample_weights") {
                    w.view()
                } else if name == "keras_learning_phase" {
                    phase.view()
                } else {
                    x.view()
                });
            }
            let out = program.run(&feeds)?;
            for (s, o) in sums.iter_mut().zip(&out) {
                *s += o.as_f32()?.sum() as f64 * (end - start) as f64;
            }
            start = end;
        }
        let report: Vec<String> = output_names
            .iter()
            .zip(&sums)
            .map(|(name, s)| format!("{name}: {:.4}", s / n_train as f64))
            .collect();
        println!("epoch {epoch}/{epochs} - {}", report.join(" - "));
    }
    program.save(&dst)?;
    println!(
        "saved the training program, {} more epoch(s) on, to {dst}",
        epochs
    );
    Ok(())
}
