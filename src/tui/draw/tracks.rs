//! The tracks panel: one row per track (number, light, name, file, mute and solo,
//! voices) and its step grid with the playhead.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};

use super::{dim, format_into, rule, short};
use crate::session::{Step, TrackView};
use crate::tui::app::{App, lit};

/// Steps of the grid (a cycle), at most.
pub const CELLS: usize = 16;

/// What a grid cell holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cell {
    Empty,
    /// An event starts in it.
    Onset,
    /// An event started earlier sounds through it.
    Held,
}

/// The cells of one cycle's events, `n` cells (at most [`CELLS`]).
fn cells(steps: &[Step], n: usize) -> [Cell; CELLS] {
    let mut out = [Cell::Empty; CELLS];
    let n = n.min(CELLS);
    if n == 0 {
        return out;
    }
    for s in steps {
        if !(s.begin.is_finite() && s.end.is_finite()) {
            continue;
        }
        let first = ((s.begin.clamp(0.0, 1.0) * n as f64).floor() as usize).min(n - 1);
        out[first] = Cell::Onset;
        let last = ((s.end.clamp(0.0, 1.0) * n as f64).ceil() as usize).min(n);
        for c in out.iter_mut().take(last).skip(first + 1) {
            if *c == Cell::Empty {
                *c = Cell::Held;
            }
        }
    }
    out
}

/// Column widths of the rows.
struct Columns {
    name: u16,
    /// 0: the file column is left out.
    file: u16,
    /// Grid cells, their width (1 or 2), and whether beats are set apart by `│`.
    cells: usize,
    cell_width: u16,
    beats: bool,
}

/// Marker, number, light (2 columns each), then mute/solo (3) and voices (4).
const FIXED: u16 = 2 + 2 + 2 + 3 + 4;

impl Columns {
    fn new(app: &App, width: u16) -> Columns {
        let s = app.snapshot();
        let name = s.tracks.iter().map(|t| t.key.name.chars().count()).max().unwrap_or(0).clamp(2, 12) as u16;
        let file = s.files.iter().map(|f| short(&f.path).chars().count()).max().unwrap_or(0).clamp(4, 16) as u16;
        let grid = |file: u16| width.saturating_sub(FIXED + name + 1 + if file > 0 { file + 1 } else { 0 });
        // The file column goes before the grid gets cramped.
        let file = if grid(file) >= CELLS as u16 + 3 { file } else { 0 };
        let room = grid(file);
        let (cells, cell_width, beats) = if room >= 2 * CELLS as u16 + 3 {
            (CELLS, 2, true)
        } else if room >= CELLS as u16 + 3 {
            (CELLS, 1, true)
        } else if room >= CELLS as u16 {
            (CELLS, 1, false)
        } else if room >= 8 {
            (8, 1, false)
        } else {
            (0, 1, false)
        };
        Columns { name, file, cells, cell_width, beats }
    }
}

/// The tracks panel.
pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    if area.height == 0 {
        return;
    }
    let s = app.snapshot();
    let rows = (area.height - 1) as usize;
    let offset = (app.selected() + 1).saturating_sub(rows);
    let title = if s.tracks.len() > rows && rows > 0 {
        format!("tracks {}-{} of {}", offset + 1, (offset + rows).min(s.tracks.len()), s.tracks.len())
    } else {
        "tracks".to_string()
    };
    rule(buf, Rect { height: 1, ..area }, &title, Style::default());
    if rows == 0 {
        return;
    }
    if s.tracks.is_empty() {
        let text = " no tracks playing (yet): save a file that compiles";
        buf.set_stringn(area.x, area.y + 1, text, area.width as usize, dim());
        return;
    }
    let columns = Columns::new(app, area.width);
    for (i, track) in s.tracks.iter().enumerate().skip(offset).take(rows) {
        let y = area.y + 1 + (i - offset) as u16;
        row(app, track, i, &columns, Rect::new(area.x, y, area.width, 1), buf);
    }
}

fn row(app: &App, t: &TrackView, i: usize, c: &Columns, area: Rect, buf: &mut Buffer) {
    let selected = i == app.selected();
    let base = if t.audible { Style::default() } else { Style::default().add_modifier(Modifier::DIM) };
    let mut x = area.x;
    let right = area.right();
    let put = |buf: &mut Buffer, x: &mut u16, text: &str, width: u16, style: Style| {
        if *x < right {
            buf.set_stringn(*x, area.y, text, width.min(right - *x) as usize, style);
        }
        *x = x.saturating_add(width);
    };
    let marker = Style::default().fg(Color::Cyan).add_modifier(Modifier::BOLD);
    put(buf, &mut x, if selected { "▶" } else { " " }, 2, marker);
    let number = if i < 9 { char::from(b'1' + i as u8) } else { ' ' };
    put(buf, &mut x, number.encode_utf8(&mut [0; 4]), 2, base.add_modifier(Modifier::BOLD));
    let light = if lit(t.since_onset) {
        ("●", Style::default().fg(Color::LightGreen).add_modifier(Modifier::BOLD))
    } else {
        ("○", dim())
    };
    put(buf, &mut x, light.0, 2, light.1);
    let name = if selected { base.add_modifier(Modifier::REVERSED | Modifier::BOLD) } else { base };
    put(buf, &mut x, &t.key.name, c.name, name);
    x += 1;
    if c.file > 0 {
        let file = app.snapshot().files.get(t.key.file).map(|f| short(&f.path));
        put(buf, &mut x, file.as_deref().unwrap_or("?"), c.file + 1, base.fg(Color::Gray));
    }
    let (mute, solo) = (Style::default().fg(Color::Red), Style::default().fg(Color::Yellow));
    let bold = Modifier::BOLD;
    put(buf, &mut x, if t.muted { "M" } else { "·" }, 1, if t.muted { mute.add_modifier(bold) } else { dim() });
    put(buf, &mut x, if t.soloed { "S" } else { "·" }, 2, if t.soloed { solo.add_modifier(bold) } else { dim() });
    let mut voices = [0u8; 8];
    put(buf, &mut x, voice_count(t.voices, &mut voices), 4, base);
    if c.cells > 0 && x < right {
        grid(t, app.snapshot().transport.cycle, c, Rect::new(x, area.y, right - x, 1), base, buf);
    }
}

/// `12v`, right-aligned in 3 columns (`99+` past 99), written into `out`.
fn voice_count(voices: u32, out: &mut [u8; 8]) -> &str {
    if voices > 99 { "99+" } else { format_into(out, format_args!("{voices:>2}v")) }
}

fn grid(t: &TrackView, cycle: f64, c: &Columns, area: Rect, base: Style, buf: &mut Buffer) {
    let cells = cells(&t.steps, c.cells);
    let head = if cycle.is_finite() { ((cycle.rem_euclid(1.0) * c.cells as f64) as usize).min(c.cells - 1) } else { 0 };
    let onset = base.fg(Color::Cyan).add_modifier(Modifier::BOLD);
    let held = base.fg(Color::Cyan);
    let empty = Style::default().fg(Color::DarkGray);
    let playhead = Style::default().fg(Color::Black).bg(Color::Yellow);
    let per_beat = c.cells / 4;
    let mut x = area.x;
    for (i, cell) in cells.iter().take(c.cells).enumerate() {
        if c.beats && i > 0 && i % per_beat == 0 {
            set(buf, &mut x, area, '│', empty);
        }
        let (first, style) = match cell {
            Cell::Onset => ('■', onset),
            Cell::Held => ('━', held),
            Cell::Empty => ('·', empty),
        };
        let style = if i == head { playhead.add_modifier(style.add_modifier) } else { style };
        set(buf, &mut x, area, first, style);
        if c.cell_width == 2 {
            let joined = cells.get(i + 1) == Some(&Cell::Held) && i + 1 < c.cells;
            let second_style = if i == head { style } else { held };
            set(buf, &mut x, area, if joined { '━' } else { ' ' }, second_style);
        }
    }
}

fn set(buf: &mut Buffer, x: &mut u16, area: Rect, c: char, style: Style) {
    if *x < area.right() {
        buf[(*x, area.y)].set_char(c).set_style(style);
    }
    *x += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(begin: f64, end: f64) -> Step {
        Step { begin, end }
    }

    fn text(cells: &[Cell]) -> String {
        cells
            .iter()
            .map(|c| match c {
                Cell::Empty => '.',
                Cell::Onset => 'x',
                Cell::Held => '-',
            })
            .collect()
    }

    #[test]
    fn events_become_onsets_and_held_cells() {
        let four = [step(0.0, 0.0625), step(0.25, 0.3), step(0.5, 0.5625), step(0.75, 0.8)];
        assert_eq!(text(&cells(&four, 16)), "x...x...x...x...");
        let held = [step(0.0, 0.5), step(0.875, 1.5)];
        assert_eq!(text(&cells(&held, 16)), "x-------......x-");
        assert_eq!(text(&cells(&held, 8)[..8]), "x---...x");
        // An onset wins over a held note; odd values are skipped or clamped.
        let odd = [step(0.0, 1.0), step(0.5, 0.51), step(f64::NAN, 1.0), step(-1.0, 0.0), step(2.0, 3.0)];
        assert_eq!(text(&cells(&odd, 16)), "x-------x------x");
        assert_eq!(text(&cells(&odd, 0)), ".".repeat(16));
    }

    #[test]
    fn voice_counts_fit_three_columns() {
        let mut out = [0; 8];
        assert_eq!(voice_count(0, &mut out), " 0v");
        assert_eq!(voice_count(12, &mut out), "12v");
        assert_eq!(voice_count(1000, &mut out), "99+");
    }
}
