//! The output panel: peak and RMS meters with peak hold and the clip light, the scale,
//! the engine's health, and the oscilloscope beside them when there is room.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::{cut_line, dim, fit, format_into, rule};
use crate::session::{Health, MidiView};
use crate::tui::app::App;
use crate::tui::meter::{FLOOR_DB, cells, db};
use crate::tui::scope::Scope;

/// The scope is shown from this width on.
const SCOPE_FROM: u16 = 70;
/// Room for a meter's label (`L `) and value (`  -12.3 `).
const METER_TEXT: u16 = 2 + 7;

/// The output panel: `full` adds the scale and three health lines (else one).
pub fn render(app: &App, area: Rect, full: bool, buf: &mut Buffer) {
    if area.height == 0 {
        return;
    }
    let s = app.snapshot();
    let body = Rect { y: area.y + 1, height: area.height - 1, ..area };
    let scope_width = if area.width >= SCOPE_FROM && body.height >= 2 { area.width * 9 / 20 } else { 0 };
    let left = Rect { width: area.width - scope_width, ..body };
    rule(buf, Rect { height: 1, width: left.width, ..area }, "output", Style::default());
    if app.clip_lit() && left.width > 12 {
        let clip = Style::default().fg(Color::White).bg(Color::Red).add_modifier(Modifier::BOLD);
        buf.set_string(left.right() - 8, area.y, " CLIP ", clip);
    }
    let m = &s.meters;
    let rows =
        [("L", db(m.rms[0]), db(m.peak[0]), app.peak_hold(0)), ("R", db(m.rms[1]), db(m.peak[1]), app.peak_hold(1))];
    let mut y = left.y;
    for (label, rms, peak, hold) in rows {
        if y < left.bottom() {
            meter(buf, Rect { y, height: 1, ..left }, label, rms, peak, hold);
            y += 1;
        }
    }
    if full && y < left.bottom() {
        scale(buf, Rect { y, height: 1, ..left });
        y += 1;
    }
    let health = Rect { y, height: left.bottom().saturating_sub(y), ..left };
    if full {
        health_lines(&s.health, &s.midi, health, buf)
    } else {
        health_line(&s.health, health, buf)
    }
    if scope_width > 0 {
        let x = left.right();
        rule(buf, Rect { x, y: area.y, width: scope_width, height: 1 }, "scope", Style::default());
        buf[(x, area.y)].set_char('┬');
        for y in body.top()..body.bottom() {
            buf[(x, y)].set_char('│').set_style(dim());
        }
        let trace = Rect { x: x + 1, width: scope_width - 1, ..body };
        Scope::new(&s.scope).style(Style::default().fg(Color::Cyan)).render(trace, buf);
    }
}

/// The colour of a level on a meter: green, yellow from -12 dBFS, red from -3.
fn zone(db: f32) -> Color {
    if db >= -3.0 {
        Color::Red
    } else if db >= -12.0 {
        Color::Yellow
    } else {
        Color::Green
    }
}

/// `L ███████▒▒▒·····┃·····  -6.0`: RMS solid, peak shaded, the held peak a bar, and
/// its value in dBFS.
fn meter(buf: &mut Buffer, area: Rect, label: &str, rms: f32, peak: f32, hold: f32) {
    if area.width <= METER_TEXT {
        return;
    }
    buf.set_string(area.x, area.y, label, Style::default().add_modifier(Modifier::BOLD));
    let width = (area.width - METER_TEXT) as usize;
    let (r, p, h) = (cells(rms, width), cells(peak, width), cells(hold, width));
    for i in 0..width {
        let level = FLOOR_DB + (i as f32 + 0.5) / width as f32 * -FLOOR_DB;
        let (c, style) = if h > 0 && i == h - 1 {
            ('┃', Style::default().fg(zone(hold)).add_modifier(Modifier::BOLD))
        } else if i < r {
            ('█', Style::default().fg(zone(level)))
        } else if i < p {
            ('▒', Style::default().fg(zone(level)))
        } else {
            ('·', dim())
        };
        buf[(area.x + 2 + i as u16, area.y)].set_char(c).set_style(style);
    }
    let mut text = [0u8; 8];
    let value = if hold > -100.0 { format_into(&mut text, format_args!("{hold:>6.1}")) } else { "  -inf" };
    let style = if hold > -100.0 { Style::default().fg(zone(hold)) } else { dim() };
    buf.set_string(area.x + 2 + width as u16, area.y, value, style);
}

/// The dBFS scale under the meters.
fn scale(buf: &mut Buffer, area: Rect) {
    if area.width <= METER_TEXT {
        return;
    }
    let width = (area.width - METER_TEXT) as usize;
    let mut free = 0;
    for (mark, text) in [(-60.0, "-60"), (-48.0, "-48"), (-36.0, "-36"), (-24.0, "-24"), (-12.0, "-12")] {
        let at = cells(mark, width);
        if at >= free && at + text.len() < width {
            buf.set_string(area.x + 2 + at as u16, area.y, text, dim());
            free = at + text.len() + 1;
        }
    }
    if width > free {
        buf.set_string(area.x + 1 + width as u16, area.y, "0 dBFS", dim());
    }
}

fn load_style(load: f64) -> Style {
    match load {
        l if l >= 0.9 => Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        l if l >= 0.7 => Style::default().fg(Color::Yellow),
        _ => Style::default(),
    }
}

fn count(what: &'static str, n: u64) -> Line<'static> {
    let style = if n > 0 { Style::default().fg(Color::Yellow) } else { dim() };
    Line::from(vec![Span::styled(what, dim()), Span::styled(format!(" {n}"), style)])
}

fn load(h: &Health) -> Line<'static> {
    Line::from(vec![
        Span::styled("load ", dim()),
        Span::styled(format!("{:>3.0}%", h.load * 100.0), load_style(h.load)),
        Span::styled(" max ", dim()),
        Span::styled(format!("{:>3.0}%", h.load_max * 100.0), load_style(h.load_max)),
    ])
}

fn latency(h: &Health) -> Line<'static> {
    Line::from(vec![Span::styled("latency ", dim()), Span::raw(format!("{:.1} ms", h.latency * 1000.0))])
}

/// Three lines: load and latency, trouble counters, the device (and MIDI, if any).
fn health_lines(h: &Health, midi: &MidiView, area: Rect, buf: &mut Buffer) {
    let row = |i: u16| Rect { y: area.y + i, height: 1, ..area };
    if area.height > 0 {
        let voices = Line::from(vec![Span::raw(format!("{}", h.voices)), Span::styled(" voices", dim())]);
        fit(buf, row(0), &[(load(h), 0), (latency(h), 1), (voices, 2)]);
    }
    if area.height > 1 {
        let counts = [
            (count("underruns", h.underruns), 0),
            (count("late", h.late), 0),
            (count("dropped", h.dropped), 1),
            (count("stolen", h.stolen), 1),
        ];
        fit(buf, row(1), &counts);
    }
    if area.height > 2 && h.sample_rate > 0 {
        let mut line = Line::from(vec![
            Span::raw(format!("{} Hz", h.sample_rate)),
            Span::styled(" · ", dim()),
            Span::raw(format!("{} frames", h.buffer)),
        ]);
        if !midi.outputs.is_empty() || !midi.inputs.is_empty() || !midi.clock_out.is_empty() || midi.clock_in.is_some()
        {
            // MIDI matters more on stage than the device's name.
            line.push_span(Span::styled(" · MIDI", dim()));
            if !midi.outputs.is_empty() {
                line.push_span(Span::raw(format!(" → {}", midi.outputs.join(", "))));
            }
            if !midi.clock_out.is_empty() {
                line.push_span(Span::styled(" clock", Style::default().fg(Color::Cyan)));
            }
            if !midi.inputs.is_empty() {
                line.push_span(Span::raw(format!(" ← {}", midi.inputs.join(", "))));
            }
            if let Some(master) = &midi.clock_in {
                line.push_span(Span::styled(format!(" following {master}"), Style::default().fg(Color::Cyan)));
            }
            line.push_span(Span::styled(format!(" {} sent", midi.sent), dim()));
        } else if !h.device.is_empty() {
            line.push_span(Span::styled(" · ", dim()));
            line.push_span(Span::styled(h.device.as_str(), Style::default().fg(Color::Gray)));
        }
        cut_line(buf, area.x, area.y + 2, &line, area.width.saturating_sub(1));
    }
}

/// One line: load, then what fits of the counters and latency.
fn health_line(h: &Health, area: Rect, buf: &mut Buffer) {
    if area.height == 0 {
        return;
    }
    let parts = [
        (load(h), 0),
        (count("underruns", h.underruns), 1),
        (count("late", h.late), 2),
        (count("dropped", h.dropped), 2),
        (count("stolen", h.stolen), 2),
        (latency(h), 3),
    ];
    fit(buf, Rect { height: 1, ..area }, &parts);
}
