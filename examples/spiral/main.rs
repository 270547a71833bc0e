//! The whole story on a real task: the CS231n spiral (3 classes, 100 points
//! each), a two-layer net (100 hidden ReLU units, softmax cross-entropy and
//! L2), trained by gradient descent on the gradient `#[differentiable]`
//! generates for its loss. Prints the training accuracy and writes
//! `spiral_loss.png` and `spiral_boundary.png`.
//!
//! Run with `cargo run --release --example spiral` (`-- --f32` for f32).

// Written with indices, as in the lecture.
#![allow(clippy::needless_range_loop, clippy::manual_memcpy)]

mod model;

use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use model::{spiral, Net};
use plotters::prelude::*;
use tapeless::Float;

const POINTS: usize = 100;
const CLASSES: usize = 3;
const HIDDEN: usize = 100;
const STEPS: usize = 4000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let f32_mode = std::env::args().any(|a| a == "--f32");
    if f32_mode {
        run::<f32>("f32")
    } else {
        run::<f64>("f64")
    }
}

fn run<T: Float + std::fmt::Display>(precision: &str) -> Result<(), Box<dyn std::error::Error>> {
    let (points, labels) = spiral(POINTS, CLASSES, 7);
    let x: Vec<[T; 2]> = points
        .iter()
        .map(|p| [T::from(p[0]).unwrap(), T::from(p[1]).unwrap()])
        .collect();
    let mut net = Net::<T>::new(HIDDEN, CLASSES, 11);
    let (reg, rate) = (T::from(1e-3).unwrap(), T::one());
    println!(
        "spiral: {} points, {CLASSES} classes; net 2-{HIDDEN}-{CLASSES} (ReLU, softmax, L2); {STEPS} steps of gradient descent in {precision}",
        x.len()
    );

    let bar = ProgressBar::new(STEPS as u64);
    bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")?);
    let start = Instant::now();
    let mut losses = Vec::with_capacity(STEPS);
    for step in 0..STEPS {
        let loss = net.step(&x, &labels, reg, rate);
        losses.push(loss.to_f64().unwrap_or(f64::NAN));
        if step % 100 == 0 {
            bar.set_message(format!(
                "loss {loss:.4}, accuracy {:.1}%",
                100.0 * net.accuracy(&x, &labels)
            ));
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let accuracy = net.accuracy(&x, &labels);
    println!(
        "trained in {:.1} s: final loss {:.4}, training accuracy {:.1}%",
        start.elapsed().as_secs_f64(),
        losses.last().copied().unwrap_or(f64::NAN),
        100.0 * accuracy
    );

    plot_loss(&losses, "spiral_loss.png")?;
    plot_boundary(&net, &points, &labels, "spiral_boundary.png")?;
    println!("wrote spiral_loss.png and spiral_boundary.png");
    Ok(())
}

/// The loss per step (no text: plotters draws text only with a font).
fn plot_loss(losses: &[f64], path: &str) -> Result<(), Box<dyn std::error::Error>> {
    let root = BitMapBackend::new(path, (640, 400)).into_drawing_area();
    root.fill(&WHITE)?;
    let top = losses.iter().copied().fold(0.0, f64::max) * 1.05;
    let mut chart = ChartBuilder::on(&root)
        .margin(20)
        .build_cartesian_2d(0..losses.len(), 0.0..top)?;
    chart.plotting_area().draw(&Rectangle::new(
        [(0, 0.0), (losses.len(), top)],
        BLACK.stroke_width(1),
    ))?;
    chart.draw_series(LineSeries::new(
        losses.iter().enumerate().map(|(i, &l)| (i, l)),
        BLUE.stroke_width(2),
    ))?;
    root.present()?;
    Ok(())
}

/// The decision regions on a grid, with the training points on top.
fn plot_boundary<T: Float>(
    net: &Net<T>,
    points: &[[f64; 2]],
    labels: &[usize],
    path: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let root = BitMapBackend::new(path, (600, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .margin(10)
        .build_cartesian_2d(-1.1..1.1, -1.1..1.1)?;
    let regions = [
        RGBColor(255, 200, 200),
        RGBColor(200, 255, 200),
        RGBColor(200, 200, 255),
    ];
    let colors = [
        RGBColor(200, 0, 0),
        RGBColor(0, 150, 0),
        RGBColor(0, 0, 200),
    ];
    let cells = 120;
    let step = 2.2 / cells as f64;
    chart.draw_series((0..cells * cells).map(|k| {
        let (i, j) = (k % cells, k / cells);
        let (x0, y0) = (-1.1 + i as f64 * step, -1.1 + j as f64 * step);
        let class = net.predict([
            T::from(x0 + step / 2.0).unwrap(),
            T::from(y0 + step / 2.0).unwrap(),
        ]);
        Rectangle::new([(x0, y0), (x0 + step, y0 + step)], regions[class].filled())
    }))?;
    chart.draw_series(
        points
            .iter()
            .zip(labels)
            .map(|(p, &c)| Circle::new((p[0], p[1]), 3, colors[c].filled())),
    )?;
    root.present()?;
    Ok(())
}
