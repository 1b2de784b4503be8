//! The oscilloscope: the master output drawn with braille dots (2×4 per cell),
//! triggered on a rising zero crossing so a steady sound stands still. Draws straight
//! into the buffer, without allocating.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::widgets::Widget;

/// The dots of a braille cell, by column (0, 1) and row (0..4), as bits of U+2800.
const DOTS: [[u8; 4]; 2] = [[0x01, 0x02, 0x04, 0x40], [0x08, 0x10, 0x20, 0x80]];

/// The part of `samples` (oldest first) to draw: half of them, starting at the first
/// rising zero crossing of the older half (after the signal went clearly below zero,
/// so that noise around zero does not trigger). Without one, the newest half.
pub fn triggered(samples: &[f32]) -> &[f32] {
    let half = samples.len() / 2;
    if half == 0 {
        return samples;
    }
    let loudest = samples.iter().fold(0.0f32, |m, s| if s.is_finite() { m.max(s.abs()) } else { m });
    let hysteresis = loudest * 0.05;
    let mut armed = false;
    for (i, &s) in samples[..=half].iter().enumerate() {
        if s < -hysteresis {
            armed = true;
        } else if armed && s >= 0.0 {
            return &samples[i..i + half];
        }
    }
    &samples[samples.len() - half..]
}

/// An oscilloscope of mono samples (full scale ±1), oldest first.
pub struct Scope<'a> {
    samples: &'a [f32],
    style: Style,
}

impl<'a> Scope<'a> {
    /// A scope of these samples; it triggers on them itself (see [`triggered`]).
    pub fn new(samples: &'a [f32]) -> Scope<'a> {
        Scope { samples, style: Style::default() }
    }

    /// Draws the trace in this style.
    pub fn style(mut self, style: Style) -> Scope<'a> {
        self.style = style;
        self
    }
}

/// The dot rows a trace column covers (top row 0), joined to the previous column so the
/// trace is a line, not scattered points.
struct Columns<'a> {
    samples: &'a [f32],
    columns: usize,
    rows: usize,
    next: usize,
    last: Option<usize>,
}

impl Columns<'_> {
    fn row_of(&self, s: f32) -> usize {
        let s = if s.is_finite() { s.clamp(-1.0, 1.0) } else { 0.0 };
        (((1.0 - s) / 2.0) * (self.rows - 1) as f32).round() as usize
    }
}

impl Iterator for Columns<'_> {
    type Item = Option<(usize, usize)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.columns {
            return None;
        }
        let x = self.next;
        self.next += 1;
        let n = self.samples.len();
        let (from, to) = (x * n / self.columns, ((x + 1) * n / self.columns).max(x * n / self.columns + 1));
        let Some(span) = self.samples.get(from..to.min(n)).filter(|s| !s.is_empty()) else { return Some(None) };
        let (mut top, mut bottom) = (usize::MAX, 0);
        for &s in span {
            let row = self.row_of(s);
            top = top.min(row);
            bottom = bottom.max(row);
        }
        // Join to the previous column's last point.
        if let Some(prev) = self.last {
            top = top.min(prev);
            bottom = bottom.max(prev);
        }
        self.last = span.last().map(|&s| self.row_of(s));
        Some(Some((top, bottom)))
    }
}

impl Widget for Scope<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let area = area.intersection(buf.area);
        if area.is_empty() {
            return;
        }
        let window = triggered(self.samples);
        let (width, height) = (area.width as usize, area.height as usize);
        let mut columns = Columns { samples: window, columns: width * 2, rows: height * 4, next: 0, last: None };
        for cx in 0..width {
            let pair = [columns.next().flatten(), columns.next().flatten()];
            for cy in 0..height {
                let mut bits = 0u8;
                for (side, span) in pair.iter().enumerate() {
                    let Some((top, bottom)) = *span else { continue };
                    for (dy, dot) in DOTS[side].iter().enumerate() {
                        let row = cy * 4 + dy;
                        if (top..=bottom).contains(&row) {
                            bits |= dot;
                        }
                    }
                }
                let symbol = if bits == 0 { ' ' } else { char::from_u32(0x2800 + bits as u32).unwrap_or(' ') };
                if let Some(cell) = buf.cell_mut((area.x + cx as u16, area.y + cy as u16)) {
                    cell.set_char(symbol).set_style(self.style);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(n: usize, period: f32, phase: f32, level: f32) -> Vec<f32> {
        (0..n).map(|i| level * (std::f32::consts::TAU * (i as f32 + phase) / period).sin()).collect()
    }

    fn draw(samples: &[f32], width: u16, height: u16) -> Vec<String> {
        let mut buf = Buffer::empty(Rect::new(0, 0, width, height));
        Scope::new(samples).render(buf.area, &mut buf);
        (0..height).map(|y| (0..width).map(|x| buf[(x, y)].symbol()).collect()).collect()
    }

    #[test]
    fn it_triggers_on_a_rising_zero_crossing() {
        for phase in [0.0, 13.0, 37.5, 50.0] {
            let s = sine(400, 100.0, phase, 0.8);
            let w = triggered(&s);
            assert_eq!(w.len(), 200);
            assert!(w[0] >= 0.0 && w[0] < 0.06, "phase {phase}: starts at {}", w[0]);
            assert!(w[1] > w[0], "rising");
        }
    }

    #[test]
    fn noise_near_zero_does_not_trigger_early() {
        let mut s = sine(400, 100.0, 50.0, 0.8);
        // A wiggle around zero just before the sine's first rising crossing.
        s[1] = -0.001;
        s[2] = 0.001;
        let start = triggered(&s).as_ptr() as usize - s.as_ptr() as usize;
        let start = start / std::mem::size_of::<f32>();
        assert!((49..=51).contains(&start), "triggered at the real crossing, not at {start}");
    }

    #[test]
    fn without_a_crossing_it_shows_the_newest_half() {
        let s = vec![0.5; 100];
        assert!(std::ptr::eq(triggered(&s).as_ptr(), s[50..].as_ptr()));
        assert!(triggered(&[]).is_empty());
    }

    #[test]
    fn silence_is_a_flat_line_in_the_middle() {
        let lines = draw(&[0.0; 64], 8, 2);
        assert_eq!(lines, ["        ", "⠉⠉⠉⠉⠉⠉⠉⠉"]);
    }

    #[test]
    fn a_sine_is_one_connected_trace_top_to_bottom() {
        // Two periods in the window: the trace reaches the top and bottom rows twice.
        let s = sine(800, 200.0, 0.0, 1.0);
        let (width, height) = (20u16, 3u16);
        let mut buf = Buffer::empty(Rect::new(0, 0, width, height));
        Scope::new(&s).render(buf.area, &mut buf);
        let rows = height as usize * 4;
        let mut previous: Option<(usize, usize)> = None;
        for x in 0..width as usize * 2 {
            let on: Vec<usize> = (0..rows)
                .filter(|&r| {
                    let c = buf[(x as u16 / 2, r as u16 / 4)].symbol().chars().next().unwrap();
                    let bits = (c as u32).wrapping_sub(0x2800) as u8;
                    c != ' ' && bits & DOTS[x % 2][r % 4] != 0
                })
                .collect();
            assert!(!on.is_empty(), "column {x} has a dot");
            let (top, bottom) = (on[0], *on.last().unwrap());
            assert_eq!(on.len(), bottom - top + 1, "column {x} is one run");
            if let Some((pt, pb)) = previous {
                assert!(top <= pb + 1 && bottom + 1 >= pt, "column {x} touches the previous one");
            }
            previous = Some((top, bottom));
        }
        let top_row: String = (0..width).map(|x| buf[(x, 0)].symbol().to_string()).collect();
        assert!(top_row.trim().len() > 2, "the peaks reach the top: {top_row:?}");
    }

    #[test]
    fn odd_values_do_not_panic() {
        let s = [f32::NAN, f32::INFINITY, -f32::INFINITY, 5.0, -5.0, 0.0, 1.0, -1.0];
        draw(&s, 3, 1);
        draw(&s, 40, 7);
        draw(&[], 4, 2);
        draw(&[0.3], 4, 2);
    }
}
