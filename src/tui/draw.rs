//! Drawing the screen from an [`App`]: `impl Widget for &App`. Pure: what is drawn
//! depends on the app alone (no clock, no terminal), so frames are snapshot-tested.
//! As the terminal shrinks, the tracks and errors keep their rows; the log, the output's
//! detail and the scope give way.

mod log;
mod output;
mod tracks;

use std::borrow::Cow;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Widget};

use super::app::{App, Mode, PULSE};
use crate::patch::Quantize;
use crate::session::{BEATS_PER_CYCLE, FileView, Snapshot};

/// The rows of each panel.
#[derive(Debug, Default)]
struct Plan {
    header: Rect,
    files: Rect,
    tracks: Rect,
    errors: Rect,
    output: Rect,
    /// The output panel has room for its scale and three health lines.
    output_full: bool,
    log: Rect,
    footer: Rect,
}

/// Rows of the output panel: title, L, R, one health line; and with its scale and
/// three health lines.
const OUTPUT_ROWS: (u16, u16) = (4, 7);
/// The fewest rows worth giving the log (title and two lines).
const LOG_MIN: u16 = 3;

impl Plan {
    fn new(app: &App, area: Rect) -> Plan {
        fn take(left: &mut u16, want: u16) -> u16 {
            let got = want.min(*left);
            *left -= got;
            got
        }
        let s = app.snapshot();
        let mut rows = area.height;
        let left = &mut rows;
        let header = take(left, 1);
        let footer = take(left, 1);
        let files = take(left, 1);
        let shown_tracks = s.tracks.len().clamp(1, 100) as u16;
        let mut tracks = take(left, 1 + shown_tracks.min(3));
        let errors = take(left, log::error_rows(s));
        let mut output = if *left >= OUTPUT_ROWS.0 { take(left, OUTPUT_ROWS.0) } else { 0 };
        // What is left goes to the other tracks, then the output's detail, keeping a
        // few lines of log.
        let more = (1 + shown_tracks).saturating_sub(tracks).min(left.saturating_sub(LOG_MIN));
        tracks += take(left, more);
        let output_full = output > 0 && *left >= OUTPUT_ROWS.1 - OUTPUT_ROWS.0 + LOG_MIN;
        if output_full {
            output += take(left, OUTPUT_ROWS.1 - OUTPUT_ROWS.0);
        }
        let log = if *left >= 2 { take(left, *left) } else { 0 };
        let mut y = area.y;
        let mut next = |h: u16| {
            let r = Rect::new(area.x, y, area.width, h);
            y += h;
            r
        };
        Plan {
            header: next(header),
            files: next(files),
            tracks: next(tracks),
            errors: next(errors),
            output: next(output),
            output_full,
            log: next(log),
            footer: Rect::new(area.x, area.bottom().saturating_sub(footer), area.width, footer),
        }
    }
}

impl Widget for &App {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let area = area.intersection(buf.area);
        let plan = Plan::new(self, area);
        header(self.snapshot(), plan.header, buf);
        files(self.snapshot(), plan.files, buf);
        tracks::render(self, plan.tracks, buf);
        log::errors(self.snapshot(), plan.errors, buf);
        output::render(self, plan.output, plan.output_full, buf);
        log::render(self, plan.log, buf);
        footer(self, plan.footer, buf);
        if self.mode() == Mode::Help {
            help(area, buf);
        }
    }
}

/// A panel's title row: `─ title ──────…`.
fn rule(buf: &mut Buffer, area: Rect, title: &str, style: Style) {
    if area.height == 0 || area.width == 0 {
        return;
    }
    let line = Style::default().fg(Color::DarkGray);
    for x in area.left()..area.right() {
        buf[(x, area.y)].set_char('─').set_style(line);
    }
    if area.width > 4 {
        buf.set_stringn(area.x + 2, area.y, title, area.width as usize - 4, style.add_modifier(Modifier::BOLD));
        buf[(area.x + 1, area.y)].set_char(' ');
        let end = (area.x + 2 + unicode_width::UnicodeWidthStr::width(title) as u16).min(area.right() - 1);
        buf[(end, area.y)].set_char(' ');
    }
}

/// Draws as many of `parts` as fit in one row, most important first (lowest rank),
/// keeping their order, two spaces apart.
fn fit(buf: &mut Buffer, area: Rect, parts: &[(Line<'_>, u8)]) {
    if area.height == 0 {
        return;
    }
    const GAP: usize = 2;
    let mut keep = [false; 16];
    let mut used = 0;
    let last = parts.iter().map(|p| p.1).max().unwrap_or(0);
    'ranks: for rank in 0..=last {
        for (i, (line, r)) in parts.iter().enumerate().take(keep.len()) {
            if *r != rank {
                continue;
            }
            let need = line.width() + if used == 0 { 0 } else { GAP };
            if used + need > area.width as usize {
                break 'ranks;
            }
            used += need;
            keep[i] = true;
        }
    }
    let mut x = area.x;
    for (i, (line, _)) in parts.iter().enumerate().take(keep.len()) {
        if keep[i] {
            let (end, _) = buf.set_line(x, area.y, line, area.right().saturating_sub(x));
            x = end.saturating_add(GAP as u16);
        }
    }
}

/// Draws `line` at (x, y) in at most `width` columns; a line cut short ends in `…`.
fn cut_line(buf: &mut Buffer, x: u16, y: u16, line: &Line<'_>, width: u16) {
    let width = width.min(buf.area.right().saturating_sub(x));
    if width == 0 {
        return;
    }
    buf.set_line(x, y, line, width);
    if line.width() > width as usize {
        buf[(x + width - 1, y)].set_char('…');
    }
}

/// Writes `args` into `out` (no allocation); what does not fit is cut.
fn format_into<'a>(out: &'a mut [u8; 8], args: std::fmt::Arguments<'_>) -> &'a str {
    use std::io::Write;
    let mut w = &mut out[..];
    let _ = w.write_fmt(args);
    let len = 8 - w.len();
    std::str::from_utf8(&out[..len]).unwrap_or("")
}

fn dim() -> Style {
    Style::default().fg(Color::DarkGray)
}

/// Transport: playing or paused, tempo, cycle, the beat, quantize, recording.
fn header(s: &Snapshot, area: Rect, buf: &mut Buffer) {
    let t = &s.transport;
    let state = if t.paused {
        Span::styled(" ⏸ PAUSED ", Style::default().fg(Color::Black).bg(Color::Yellow).add_modifier(Modifier::BOLD))
    } else {
        Span::styled(" ▶ PLAYING", Style::default().fg(Color::Green).add_modifier(Modifier::BOLD))
    };
    let (beat, into) = t.beat();
    let pulse = t.cps > 0.0 && into / (t.cps * BEATS_PER_CYCLE) < PULSE;
    let mut dots = Vec::with_capacity(BEATS_PER_CYCLE as usize);
    for b in 0..BEATS_PER_CYCLE as u32 {
        dots.push(if b != beat {
            Span::styled("○", dim())
        } else if pulse && !t.paused {
            Span::styled("●", Style::default().fg(Color::LightYellow).add_modifier(Modifier::BOLD))
        } else {
            Span::styled("●", Style::default().fg(Color::Yellow))
        });
    }
    let mut parts = vec![
        (Line::from(state), 0),
        (Line::from(Span::styled(format!("{:.1} bpm", t.bpm()), Style::default().add_modifier(Modifier::BOLD))), 0),
        (Line::styled(format!("{:.3} cps", t.cps), dim()), 3),
        (Line::from(format!("cycle {}", t.cycle.max(0.0).floor())), 1),
        (Line::from(dots), 1),
    ];
    if let Some((path, seconds)) = &t.recording {
        let name = path.file_name().map_or_else(|| path.to_string_lossy(), |n| n.to_string_lossy());
        let secs = seconds.max(0.0) as u64;
        let rec = format!("● REC {name} {}:{:02}", secs / 60, secs % 60);
        parts.push((Line::styled(rec, Style::default().fg(Color::Red)), 2));
    }
    fit(buf, area, &parts);
}

/// The name a file is shown by: its file name.
fn short(path: &std::path::Path) -> Cow<'_, str> {
    path.file_name().map_or_else(|| path.to_string_lossy(), |n| n.to_string_lossy())
}

/// Each file's version (a reverted file says which version plays), and on the right
/// when new versions take over.
fn files(s: &Snapshot, area: Rect, buf: &mut Buffer) {
    if area.height == 0 {
        return;
    }
    let quantize = match s.transport.quantize {
        None | Some(Quantize::None) => "new versions: at once",
        Some(Quantize::Cycle) => "new versions: on the cycle",
        Some(Quantize::Bar) => "new versions: on the bar",
    };
    let mut spans = Vec::with_capacity(s.files.len() * 2 + 1);
    spans.push(Span::raw(" "));
    for (i, f) in s.files.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled("  ·  ", dim()));
        }
        spans.push(file_span(f));
    }
    let files = Line::from(spans);
    let room = area.width as usize;
    let right = quantize.len() + 1;
    if files.width() + 2 + right <= room {
        buf.set_string(area.right() - right as u16, area.y, quantize, dim());
    }
    cut_line(buf, area.x, area.y, &files, area.width);
}

fn file_span(f: &FileView) -> Span<'_> {
    let name = short(&f.path);
    let bad = Style::default().fg(Color::Red).add_modifier(Modifier::BOLD);
    if f.version == 0 {
        Span::styled(format!("{name}: not started"), bad)
    } else if f.reverted() {
        let style = Style::default().fg(Color::Yellow).add_modifier(Modifier::BOLD);
        Span::styled(format!("{name}: playing v{} of {} (U: newest)", f.version, f.versions), style)
    } else if f.problem.is_some() {
        Span::styled(format!("{name} v{} ✗", f.version), bad)
    } else {
        Span::raw(format!("{name} v{}", f.version))
    }
}

/// Keys, the quit question, or a short note.
fn footer(app: &App, area: Rect, buf: &mut Buffer) {
    if area.height == 0 {
        return;
    }
    let key = Style::default().add_modifier(Modifier::BOLD);
    if app.mode() == Mode::ConfirmQuit {
        let ask = Style::default().fg(Color::Black).bg(Color::Yellow).add_modifier(Modifier::BOLD);
        let line =
            Line::from(vec![Span::styled(" quit? y/n ", ask), Span::styled("  y quits, any other key stays", dim())]);
        buf.set_line(area.x, area.y, &line, area.width);
        return;
    }
    if let Some(note) = app.note() {
        buf.set_line(area.x, area.y, &Line::from(vec![Span::raw(" "), Span::styled(note, key)]), area.width);
        return;
    }
    let hint = |k: &'static str, what: &'static str, rank| {
        (Line::from(vec![Span::styled(k, key), Span::styled(what, dim())]), rank)
    };
    let parts = [
        hint(" space", " pause", 1),
        hint("↑↓", " select", 2),
        hint("m", " mute", 1),
        hint("s", " solo", 2),
        hint("1-9", " mute", 3),
        hint("+/-", " bpm", 2),
        hint("t", " tap", 4),
        hint("r", " reload", 4),
        hint("u/U", " versions", 5),
        hint("?", " help", 0),
        hint("q", " quit", 0),
    ];
    fit(buf, area, &parts);
}

/// Every key, over the screen.
pub const KEYS: [(&str, &str); 14] = [
    ("space", "pause / resume"),
    ("↑ ↓  k j", "select a track"),
    ("m  s", "mute / solo the selected track"),
    ("1 … 9", "mute / unmute track 1 … 9"),
    ("0", "unmute and unsolo every track"),
    ("+ =  - _", "tempo +1 / -1 bpm"),
    ("]  [", "tempo +10 / -10 bpm"),
    ("t", "tap tempo (tap on the beat, 2+ taps)"),
    ("<  >", "move the beat 10 ms earlier / later"),
    ("r", "reload every file from disk"),
    ("u  U", "previous / newest version of the file"),
    ("p", "panic: silence every voice now"),
    ("?", "this help"),
    ("q", "quit (asks y/n); Ctrl-C: at once"),
];

fn help(area: Rect, buf: &mut Buffer) {
    let width = 52.min(area.width);
    let height = (KEYS.len() as u16 + 2).min(area.height);
    let popup = Rect::new(area.x + (area.width - width) / 2, area.y + (area.height - height) / 2, width, height);
    Clear.render(popup, buf);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::default().fg(Color::Cyan))
        .title(Line::styled(" keys ", Style::default().add_modifier(Modifier::BOLD)))
        .title_bottom(Line::styled(" any key closes ", dim()).right_aligned());
    let inner = block.inner(popup);
    block.render(popup, buf);
    let key = Style::default().fg(Color::Cyan).add_modifier(Modifier::BOLD);
    for (i, (k, what)) in KEYS.iter().enumerate().take(inner.height as usize) {
        let y = inner.y + i as u16;
        buf.set_stringn(inner.x + 1, y, k, 10, key);
        buf.set_stringn(inner.x + 11, y, what, inner.width.saturating_sub(12) as usize, Style::default());
    }
}
