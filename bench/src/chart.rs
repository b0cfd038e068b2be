//! The PNG chart: total completion tokens/s against concurrency, one line per server.

use std::path::Path;

use anyhow::{anyhow, Context};
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

/// One line of the chart.
pub struct Series {
    pub name: String,
    /// (clients, total tokens/s)
    pub points: Vec<(u32, f64)>,
}

const COLORS: [RGBColor; 6] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
];

/// Makes `font` the chart's sans-serif font. plotters keeps fonts for the whole process,
/// so the file's bytes are leaked on purpose (once per run).
pub fn load_font(font: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(font).with_context(|| {
        format!(
            "reading the chart font {} (Debian: apt-get install fonts-dejavu-core, or --font)",
            font.display()
        )
    })?;
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| anyhow!("{} is not a TrueType/OpenType font", font.display()))
}

/// Draws the chart into `path` (PNG, 960×600).
pub fn draw(path: &Path, title: &str, series: &[Series]) -> anyhow::Result<()> {
    draw_inner(path, title, series).map_err(|e| anyhow!("drawing {}: {e}", path.display()))
}

fn draw_inner(
    path: &Path,
    title: &str,
    series: &[Series],
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let max_clients = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .max()
        .unwrap_or(1);
    let max_tps = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(1.0_f64, f64::max);

    let root = BitMapBackend::new(path, (960, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 24))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(0u32..max_clients + 1, 0.0..max_tps * 1.15)?;
    chart
        .configure_mesh()
        .x_desc("concurrent clients")
        .y_desc("total completion tokens/s")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .draw()?;

    for (index, line) in series.iter().enumerate() {
        let color = COLORS[index % COLORS.len()];
        chart
            .draw_series(LineSeries::new(
                line.points.iter().copied(),
                color.stroke_width(3),
            ))?
            .label(line.name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3))
            });
        chart.draw_series(
            line.points
                .iter()
                .map(|&point| Circle::new(point, 5, color.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font(("sans-serif", 18))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
