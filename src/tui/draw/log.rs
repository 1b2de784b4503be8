//! The errors panel (each file's problem with its source line and a caret under the
//! column) and the log of events, newest at the bottom.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthChar;

use super::{cut_line, dim, format_into, rule};
use crate::session::{Problem, ProblemKind, Snapshot};
use crate::tui::app::{App, Level};

/// Rows a problem takes: its message, and its source line with the caret under it.
fn problem_rows(p: &Problem) -> u16 {
    match (&p.source_line, p.error.column) {
        (None, _) => 1,
        (Some(_), 0) => 2,
        (Some(_), _) => 3,
    }
}

/// Rows the errors panel wants (0 without problems).
pub fn error_rows(s: &Snapshot) -> u16 {
    let rows: u16 = s.files.iter().filter_map(|f| f.problem.as_ref()).map(problem_rows).sum();
    if rows == 0 { 0 } else { rows + 1 }
}

/// What a problem means for the music.
fn consequence(kind: ProblemKind) -> &'static str {
    match kind {
        ProblemKind::Save => "the last good version keeps playing",
        ProblemKind::Playing => "while playing: that track is silent where it fails",
        ProblemKind::NotStarted => "this file is silent until a save compiles",
    }
}

/// Every file's problem.
pub fn errors(s: &Snapshot, area: Rect, buf: &mut Buffer) {
    if area.height == 0 {
        return;
    }
    let red = Style::default().fg(Color::Red).add_modifier(Modifier::BOLD);
    rule(buf, Rect { height: 1, ..area }, "errors", red);
    let mut y = area.y + 1;
    for p in s.files.iter().filter_map(|f| f.problem.as_ref()) {
        if y >= area.bottom() {
            break;
        }
        let e = &p.error;
        // `file:line:column: ` in red, then the message, then what it means.
        let full = e.to_string();
        let place = full.strip_suffix(e.message.as_str()).unwrap_or("");
        let line = Line::from(vec![
            Span::raw(" "),
            Span::styled(place, red),
            Span::raw(e.message.as_str()),
            Span::styled(" (", dim()),
            Span::styled(consequence(p.kind), dim()),
            Span::styled(")", dim()),
        ]);
        cut_line(buf, area.x, y, &line, area.width);
        y += 1;
        let Some(source) = &p.source_line else { continue };
        if y < area.bottom() {
            let caret = source_line(buf, Rect::new(area.x, y, area.width, 1), e.line, source, e.column);
            y += 1;
            if let Some(x) = caret
                && y < area.bottom()
            {
                gutter(buf, area.x, y, None);
                buf[(x, y)].set_char('^').set_style(red);
                y += 1;
            }
        }
    }
}

/// Width of the line-number gutter: ` 123 │ `.
const GUTTER: u16 = 7;

fn gutter(buf: &mut Buffer, x: u16, y: u16, line: Option<usize>) {
    if let Some(n) = line {
        let mut text = [0u8; 8];
        let number = format_into(&mut text, format_args!("{n:>4}"));
        buf.set_stringn(x, y, number, 5, dim());
    }
    buf.set_string(x + 5, y, "│", dim());
}

/// Draws the source line (tabs as spaces), scrolled so that `column` (1-based, counted
/// in characters; 0: unknown) shows; returns where its caret goes.
fn source_line(buf: &mut Buffer, area: Rect, line: usize, source: &str, column: usize) -> Option<u16> {
    if area.width <= GUTTER + 2 {
        return None;
    }
    gutter(buf, area.x, area.y, Some(line));
    let room = (area.width - GUTTER) as usize;
    // Scroll right when the column is past two thirds of the room: start that many
    // characters earlier (shown with `…`).
    let skip = column.saturating_sub(1).saturating_sub(room * 2 / 3);
    let mut x = area.x + GUTTER;
    let mut caret = None;
    if skip > 0 {
        buf[(x, area.y)].set_char('…').set_style(dim());
        x += 1;
    }
    for (i, c) in source.chars().enumerate().skip(skip) {
        if i + 1 == column {
            caret = Some(x);
        }
        let c = if c == '\t' || c.is_control() { ' ' } else { c };
        let w = c.width().unwrap_or(0) as u16;
        if w == 0 {
            continue;
        }
        if x + w > area.right() {
            break;
        }
        buf[(x, area.y)].set_char(c);
        x += w;
    }
    // A column just past the end of the line (an unfinished line): the caret follows it.
    if caret.is_none() && column > 0 && column == source.chars().count() + 1 {
        caret = Some(x);
    }
    caret.filter(|&x| x < area.right())
}

/// The log: the newest lines that fit, oldest at the top.
pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    if area.height == 0 {
        return;
    }
    rule(buf, Rect { height: 1, ..area }, "log", Style::default());
    let rows = (area.height - 1) as usize;
    let lines = app.log_lines();
    for (i, line) in lines.iter().skip(lines.len().saturating_sub(rows)).enumerate() {
        let y = area.y + 1 + i as u16;
        buf.set_stringn(area.x + 1, y, line.stamp(), 8, dim());
        let style = match line.level() {
            Level::Info => Style::default(),
            Level::Good => Style::default().fg(Color::Green),
            Level::Warning => Style::default().fg(Color::Yellow),
            Level::Error => Style::default().fg(Color::Red),
        };
        let message = Line::styled(line.message(), style);
        cut_line(buf, area.x + 10, y, &message, area.width.saturating_sub(10));
    }
}
