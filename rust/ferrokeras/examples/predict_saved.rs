//! Classifies MNIST digits with a model trained in Python and saved as a program file:
//! no Python involved, only `Program::load` and `Program::run` on ndarray arrays.
//!
//! ```text
//! python examples/mnist_mlp.py --save-program mnist_mlp.fkp
//! cargo run --release -p ferrokeras --example predict_saved -- mnist_mlp.fkp
//! ```
//!
//! It reads the MNIST test set bundled in `examples/data/mnist`, classifies the last
//! 2,000 images (the ones `mnist_mlp.py` held out) and prints the accuracy. The
//! program's input shape decides the layout: `(None, 784)` for an MLP, `(None, 1, 28,
//! 28)` or `(None, 28, 28, 1)` for a CNN (`mnist_cnn.py` in either dim ordering).

use std::io::Read;

use ferrokeras::Program;
use ndarray::{s, Array2, ArrayD, Axis, IxDyn};

fn read_gz(path: &str) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path)?).read_to_end(&mut out)?;
    Ok(out)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or(
        "usage: predict_saved MODEL.fkp (write one with examples/mnist_mlp.py --save-program)",
    )?;
    let program = Program::load(&path)?;
    if program.n_inputs() != 1 || program.n_outputs() != 1 {
        return Err(format!(
            "{path}: expected a one-input, one-output inference program, got {} input(s) and {} output(s)",
            program.n_inputs(),
            program.n_outputs()
        )
        .into());
    }

    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/data/mnist");
    let images = read_gz(&format!("{dir}/t10k-images-idx3-ubyte.gz"))?;
    let labels = read_gz(&format!("{dir}/t10k-labels-idx1-ubyte.gz"))?;
    let pixels =
        Array2::from_shape_vec((10_000, 784), images[16..].to_vec())?.mapv(|p| p as f32 / 255.0);
    let test = pixels.slice(s![8000.., ..]);
    let truth = &labels[8 + 8000..];

    // The program's input shape says how it wants the pixels laid out.
    let rank_shape: Vec<Option<usize>> = program.input_info(0).shape.clone();
    let n = test.nrows();
    let dims: Vec<usize> = match rank_shape.as_slice() {
        [_, Some(784)] => vec![n, 784],
        [_, Some(1), Some(28), Some(28)] => vec![n, 1, 28, 28],
        [_, Some(28), Some(28), Some(1)] => vec![n, 28, 28, 1],
        other => {
            return Err(format!("{path}: an input of shape {other:?} is not an MNIST model").into())
        }
    };
    let x: ArrayD<f32> = test.to_owned().into_shape_with_order(IxDyn(&dims))?;

    let t0 = std::time::Instant::now();
    let probs = program.run(&[x.view()])?.remove(0).into_f32()?;
    let secs = t0.elapsed().as_secs_f64();

    let predicted: Vec<usize> = probs
        .axis_iter(Axis(0))
        .map(|row| {
            row.iter()
                .enumerate()
                .fold(
                    (0, f32::NEG_INFINITY),
                    |b, (k, &p)| if p > b.1 { (k, p) } else { b },
                )
                .0
        })
        .collect();
    let correct = predicted
        .iter()
        .zip(truth)
        .filter(|(&p, &t)| p == t as usize)
        .count();
    println!(
        "program: {path} ({})",
        program.metadata().get("keras.kind").map_or("", |s| s)
    );
    println!("first ten digits: predicted {:?}", &predicted[..10]);
    println!("                  true      {:?}", &truth[..10]);
    println!(
        "test accuracy: {:.4} ({correct}/{n}) in {:.1} ms",
        correct as f64 / n as f64,
        secs * 1e3
    );
    Ok(())
}
