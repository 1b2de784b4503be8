//! Instrument graphs written in scripts: a plain description (`Graph`) checked for
//! channel counts as it is built, and compiled into a fundsp `Net` once per note.
//!
//! A graph is data, not a live audio object: scripts build it once, and the control side
//! turns it into units with the note's frequency and length filled in. Constant
//! sub-graphs (`freq * 1.01`) are folded, so `saw(freq)` compiles to a plain `saw_hz`.

use std::fmt;
use std::sync::Arc;

use fundsp::prelude32::*;

use super::env::{Adsr, EnvNode};
use super::osc::{BlepWave, blep_hz, blep_osc};

/// An oscillator waveform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wave {
    /// Sine.
    Sine,
    /// Band-limited sawtooth.
    Saw,
    /// Band-limited square.
    Square,
    /// Band-limited triangle.
    Triangle,
    /// Band-limited organ-like wave.
    Organ,
    /// Soft sawtooth (fewer harmonics).
    SoftSaw,
}

/// A noise colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Noise {
    /// White noise.
    White,
    /// Pink noise (-3 dB per octave).
    Pink,
    /// Brown noise (-6 dB per octave).
    Brown,
}

/// A filter response (state-variable filters; `Moog` is a ladder).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filter {
    /// Low-pass.
    Lowpass,
    /// High-pass.
    Highpass,
    /// Band-pass.
    Bandpass,
    /// Notch.
    Notch,
    /// Moog ladder low-pass.
    Moog,
}

/// Element-wise arithmetic between two graphs of the same width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arith {
    /// `a + b`.
    Add,
    /// `a - b`.
    Sub,
    /// `a * b`.
    Mul,
}

/// One node of a graph description.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    /// A constant signal.
    Const(f32),
    /// The note's frequency in Hz.
    Freq,
    /// An oscillator whose frequency is the given graph's output.
    Osc(Wave, Graph),
    /// A pulse wave with frequency and width graphs.
    Pulse(Graph, Graph),
    /// Noise.
    Noise(Noise),
    /// A filter on one input with cutoff and Q graphs.
    Filter(Filter, Graph, Graph),
    /// A percussive envelope (attack, decay in seconds).
    Perc(f32, f32),
    /// An ADSR envelope held for the note's length.
    Adsr(f32, f32, f32, f32),
    /// A fixed delay in seconds.
    Delay(f32),
    /// A feedback delay (time in seconds, feedback 0..1).
    Echo(f32, f32),
    /// A stereo reverb (room size in metres, decay time in seconds, damping 0..1).
    Reverb(f32, f32, f32),
    /// Mono to stereo at a position (-1 left .. 1 right).
    Pan(f32),
    /// Soft saturation with a drive.
    Tanh(f32),
    /// Hard clipping at ±1.
    Clip,
    /// `n` channels passed through.
    Pass(usize),
    /// `n` channels swallowed.
    Sink(usize),
    /// Averages `n` channels into one.
    Join(usize),
    /// Copies one channel into `n`.
    Split(usize),
    /// `a >> b`.
    Pipe(Graph, Graph),
    /// `a | b`.
    Stack(Graph, Graph),
    /// `a & b`.
    Bus(Graph, Graph),
    /// `a + b`, `a - b`, `a * b`.
    Arith(Arith, Graph, Graph),
}

/// A graph description with its channel counts.
#[derive(Clone)]
pub struct Graph {
    node: Arc<Node>,
    inputs: usize,
    outputs: usize,
    /// Nodes on the longest path from here to a leaf.
    depth: u32,
    /// Nodes in the graph as compiled (shared parts count each time they are used).
    size: u64,
}

/// Most nodes on one path of a graph (compiling and comparing graphs recurse along it).
pub const MAX_GRAPH_DEPTH: u32 = 200;
/// Most nodes in one graph as compiled, once per note.
pub const MAX_GRAPH_SIZE: u64 = 2_000;

impl PartialEq for Graph {
    fn eq(&self, other: &Graph) -> bool {
        Arc::ptr_eq(&self.node, &other.node)
            || (self.inputs == other.inputs && self.outputs == other.outputs && self.node == other.node)
    }
}

impl fmt::Debug for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Graph({} in, {} out, {:?})", self.inputs, self.outputs, self.node)
    }
}

/// A leaf with its numbers brought into ranges that cannot exhaust memory or blow up
/// (a delay of a million seconds, a room a kilometre wide, NaN).
fn sane(node: Node) -> Node {
    let c = |x: f32, lo: f32, hi: f32, default: f32| if x.is_finite() { x.clamp(lo, hi) } else { default };
    match node {
        Node::Delay(t) => Node::Delay(c(t, 0.0, 10.0, 0.0)),
        Node::Echo(t, fb) => Node::Echo(c(t, 0.0001, 10.0, 0.25), c(fb, 0.0, 0.99, 0.5)),
        Node::Reverb(room, time, damp) => {
            Node::Reverb(c(room, 1.0, 100.0, 10.0), c(time, 0.0, 60.0, 2.0), c(damp, 0.0, 1.0, 0.5))
        }
        Node::Perc(a, d) => Node::Perc(c(a, 0.0, 60.0, 0.0), c(d, 0.0, 60.0, 0.5)),
        Node::Adsr(a, d, s, r) => {
            Node::Adsr(c(a, 0.0, 60.0, 0.0), c(d, 0.0, 60.0, 0.1), c(s, 0.0, 1.0, 1.0), c(r, 0.0, 60.0, 0.1))
        }
        Node::Pan(p) => Node::Pan(c(p, -1.0, 1.0, 0.0)),
        Node::Tanh(d) => Node::Tanh(c(d, 0.0, 1000.0, 1.0)),
        Node::Const(x) => Node::Const(if x.is_finite() { x } else { 0.0 }),
        Node::Pass(n) => Node::Pass(n.clamp(1, MAX_CHANNELS)),
        Node::Sink(n) => Node::Sink(n.clamp(1, MAX_CHANNELS)),
        Node::Join(n) => Node::Join(n.clamp(1, MAX_CHANNELS)),
        Node::Split(n) => Node::Split(n.clamp(1, MAX_CHANNELS)),
        other => other,
    }
}

/// Most channels a graph may have (keeps mistakes from exploding).
const MAX_CHANNELS: usize = 64;

fn plural(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

impl Graph {
    fn new(node: Node, inputs: usize, outputs: usize) -> Graph {
        let (depth, size) = match &node {
            Node::Osc(_, a) => (a.depth, a.size),
            Node::Pulse(a, b) | Node::Filter(_, a, b) | Node::Pipe(a, b) | Node::Stack(a, b) | Node::Bus(a, b) => {
                (Ord::max(a.depth, b.depth), a.size.saturating_add(b.size))
            }
            Node::Arith(_, a, b) => (Ord::max(a.depth, b.depth), a.size.saturating_add(b.size)),
            _ => (0, 0),
        };
        Graph { node: Arc::new(node), inputs, outputs, depth: depth + 1, size: size.saturating_add(1) }
    }

    /// `new`, refused past the depth and size limits.
    fn made(node: Node, inputs: usize, outputs: usize) -> Result<Graph, String> {
        let g = Graph::new(node, inputs, outputs);
        if g.depth > MAX_GRAPH_DEPTH {
            return Err(format!("graph nested more than {MAX_GRAPH_DEPTH} deep (built in a loop?)"));
        }
        if g.size > MAX_GRAPH_SIZE {
            return Err(format!("graph of {} nodes; at most {MAX_GRAPH_SIZE} (built up in a loop?)", g.size));
        }
        Ok(g)
    }

    /// Nodes on the longest path to a leaf.
    pub fn depth(&self) -> u32 {
        self.depth
    }

    /// Nodes as compiled.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Inputs the graph takes.
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// Outputs the graph gives.
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// The node at the root.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// A constant.
    pub fn constant(x: f64) -> Graph {
        Graph::new(Node::Const(x as f32), 0, 1)
    }

    /// The note's frequency.
    pub fn freq() -> Graph {
        Graph::new(Node::Freq, 0, 1)
    }

    /// A leaf with fixed channel counts.
    pub fn leaf(node: Node) -> Graph {
        let node = sane(node);
        let (i, o) = match &node {
            Node::Const(_) | Node::Freq | Node::Noise(_) | Node::Perc(..) | Node::Adsr(..) => (0, 1),
            Node::Delay(_) | Node::Echo(..) | Node::Tanh(_) | Node::Clip => (1, 1),
            Node::Reverb(..) => (2, 2),
            Node::Pan(_) => (1, 2),
            Node::Pass(n) => (*n, *n),
            Node::Sink(n) => (*n, 0),
            Node::Join(n) => (*n, 1),
            Node::Split(n) => (1, *n),
            other => unreachable!("not a leaf: {other:?}"),
        };
        Graph::new(node, i, o)
    }

    /// A parameter must be a single signal.
    fn param(what: &str, g: &Graph) -> Result<(), String> {
        if g.outputs != 1 {
            return Err(format!("{what} must be one signal, but it has {}", plural(g.outputs, "output")));
        }
        Ok(())
    }

    /// An oscillator at a frequency.
    pub fn osc(wave: Wave, freq: Graph) -> Result<Graph, String> {
        Graph::param("the frequency", &freq)?;
        let inputs = freq.inputs;
        Graph::made(Node::Osc(wave, freq), inputs, 1)
    }

    /// A pulse wave.
    pub fn pulse(freq: Graph, width: Graph) -> Result<Graph, String> {
        Graph::param("the frequency", &freq)?;
        Graph::param("the width", &width)?;
        let inputs = freq.inputs + width.inputs;
        Graph::made(Node::Pulse(freq, width), inputs, 1)
    }

    /// A filter with cutoff and Q.
    pub fn filter(kind: Filter, cutoff: Graph, q: Graph) -> Result<Graph, String> {
        Graph::param("the cutoff", &cutoff)?;
        Graph::param("the resonance", &q)?;
        let inputs = 1 + cutoff.inputs + q.inputs;
        Graph::made(Node::Filter(kind, cutoff, q), inputs, 1)
    }

    fn check_size(i: usize, o: usize) -> Result<(), String> {
        if i > MAX_CHANNELS || o > MAX_CHANNELS {
            return Err(format!("graph too wide: {i} inputs, {o} outputs (at most {MAX_CHANNELS})"));
        }
        Ok(())
    }

    /// `a >> b`: a's outputs feed b's inputs.
    pub fn pipe(a: Graph, b: Graph) -> Result<Graph, String> {
        if a.outputs != b.inputs {
            return Err(format!(
                "cannot pipe (>>): the left side has {} but the right side takes {}",
                plural(a.outputs, "output"),
                plural(b.inputs, "input")
            ));
        }
        let (i, o) = (a.inputs, b.outputs);
        Graph::made(Node::Pipe(a, b), i, o)
    }

    /// `a | b`: side by side.
    pub fn stack(a: Graph, b: Graph) -> Result<Graph, String> {
        let (i, o) = (a.inputs + b.inputs, a.outputs + b.outputs);
        Graph::check_size(i, o)?;
        Graph::made(Node::Stack(a, b), i, o)
    }

    /// `a & b`: same inputs, outputs summed.
    pub fn bus(a: Graph, b: Graph) -> Result<Graph, String> {
        if a.inputs != b.inputs || a.outputs != b.outputs {
            return Err(format!(
                "cannot bus (&): the sides must match, but the left has {} and {} and the right {} and {}",
                plural(a.inputs, "input"),
                plural(a.outputs, "output"),
                plural(b.inputs, "input"),
                plural(b.outputs, "output")
            ));
        }
        let (i, o) = (a.inputs, a.outputs);
        Graph::made(Node::Bus(a, b), i, o)
    }

    /// `a + b`, `a - b`, `a * b`: outputs combined channel by channel, inputs side by side.
    /// A one-output constant is widened to the other side.
    pub fn arith(op: Arith, a: Graph, b: Graph) -> Result<Graph, String> {
        let widen = |g: Graph, n: usize| match g.node() {
            Node::Const(_) if g.outputs == 1 && n > 1 => {
                Graph::new(Node::Pipe(g.clone(), Graph::leaf(Node::Split(n))), 0, n)
            }
            _ => g,
        };
        let (wa, wb) = (a.outputs, b.outputs);
        let (a, b) = (widen(a, wb), widen(b, wa));
        if a.outputs != b.outputs {
            let sym = match op {
                Arith::Add => "+",
                Arith::Sub => "-",
                Arith::Mul => "*",
            };
            return Err(format!(
                "cannot combine ({sym}): the left side has {} and the right side {}",
                plural(a.outputs, "output"),
                plural(b.outputs, "output")
            ));
        }
        let (i, o) = (a.inputs + b.inputs, a.outputs);
        Graph::check_size(i, o)?;
        Graph::made(Node::Arith(op, a, b), i, o)
    }
}

/// What a note fills in when its graph is compiled.
#[derive(Clone, Copy, Debug)]
pub struct NoteContext {
    /// Output sample rate.
    pub sample_rate: f64,
    /// The note's frequency in Hz.
    pub freq: f32,
    /// How long the note is held, in frames (for `adsr`).
    pub gate: Option<u64>,
    /// Seed for noise.
    pub seed: u64,
}

/// The value of a graph that is constant for the whole note, if it is.
fn constant(g: &Graph, cx: &NoteContext) -> Option<f32> {
    match g.node() {
        Node::Const(x) => Some(*x),
        Node::Freq => Some(cx.freq),
        Node::Arith(op, a, b) if g.outputs == 1 => {
            let (a, b) = (constant(a, cx)?, constant(b, cx)?);
            Some(match op {
                Arith::Add => a + b,
                Arith::Sub => a - b,
                Arith::Mul => a * b,
            })
        }
        _ => None,
    }
}

fn wrap(unit: impl AudioUnit + 'static) -> Net {
    Net::wrap(Box::new(unit))
}

/// Compiles a graph into a fundsp network for one note.
pub fn compile(g: &Graph, cx: &NoteContext) -> Net {
    let mut net = build(g, cx);
    net.set_sample_rate(cx.sample_rate);
    net
}

fn build(g: &Graph, cx: &NoteContext) -> Net {
    if g.outputs == 1
        && g.inputs == 0
        && let Some(x) = constant(g, cx)
    {
        return wrap(dc(x));
    }
    let seed = cx.seed;
    match g.node() {
        Node::Const(x) => wrap(dc(*x)),
        Node::Freq => wrap(dc(cx.freq)),
        Node::Osc(wave, f) => {
            if let Some(hz) = constant(f, cx).filter(|_| f.inputs == 0) {
                match wave {
                    Wave::Sine => wrap(sine_hz(hz).phase(0.0)),
                    Wave::Saw => wrap(blep_hz(BlepWave::Saw, hz, cx.seed as f32 / u64::MAX as f32)),
                    Wave::Square => wrap(blep_hz(BlepWave::Square, hz, 0.0)),
                    Wave::Triangle => wrap(triangle_hz(hz)),
                    Wave::Organ => wrap(organ_hz(hz)),
                    Wave::SoftSaw => wrap(soft_saw_hz(hz)),
                }
            } else {
                let osc = match wave {
                    Wave::Sine => wrap(sine().phase(0.0)),
                    Wave::Saw => wrap(blep_osc(BlepWave::Saw, 0.0)),
                    Wave::Square => wrap(blep_osc(BlepWave::Square, 0.0)),
                    Wave::Triangle => wrap(triangle()),
                    Wave::Organ => wrap(organ()),
                    Wave::SoftSaw => wrap(soft_saw()),
                };
                build(f, cx) >> osc
            }
        }
        Node::Pulse(f, w) => (build(f, cx) | build(w, cx)) >> wrap(pulse()),
        Node::Noise(Noise::White) => wrap(noise().seed(seed)),
        Node::Noise(Noise::Pink) => wrap(noise().seed(seed) >> pinkpass()),
        Node::Noise(Noise::Brown) => wrap(brown().seed(seed) * 3.0),
        Node::Filter(kind, cutoff, q) => {
            let nyquist = (cx.sample_rate * 0.45) as f32;
            let consts =
                (constant(cutoff, cx).filter(|_| cutoff.inputs == 0), constant(q, cx).filter(|_| q.inputs == 0));
            if let (Some(c), Some(q)) = consts {
                let (c, q) = (c.clamp(5.0, nyquist), q.max(0.05));
                match kind {
                    Filter::Lowpass => wrap(lowpass_hz(c, q)),
                    Filter::Highpass => wrap(highpass_hz(c, q)),
                    Filter::Bandpass => wrap(bandpass_hz(c, q)),
                    Filter::Notch => wrap(notch_hz(c, q)),
                    Filter::Moog => wrap(moog_hz(c, q.min(1.0))),
                }
            } else {
                let clamp_c = wrap(clip_to(5.0, nyquist));
                let params =
                    wrap(pass()) | (build(cutoff, cx) >> clamp_c) | (build(q, cx) >> wrap(clip_to(0.05, 50.0)));
                let filter = match kind {
                    Filter::Lowpass => wrap(lowpass()),
                    Filter::Highpass => wrap(highpass()),
                    Filter::Bandpass => wrap(bandpass()),
                    Filter::Notch => wrap(notch()),
                    Filter::Moog => wrap(moog()),
                };
                params >> filter
            }
        }
        Node::Perc(a, d) => wrap(EnvNode::new(Adsr::perc(cx.sample_rate, *a as f64, *d as f64))),
        Node::Adsr(a, d, s, r) => wrap(EnvNode::new(Adsr::new(
            cx.sample_rate,
            *a as f64,
            *d as f64,
            *s as f64,
            *r as f64,
            Some(cx.gate.unwrap_or(u64::MAX)),
        ))),
        Node::Delay(t) => wrap(delay(t.clamp(0.0, 10.0))),
        Node::Echo(t, fb) => {
            let t = t.clamp(0.001, 10.0);
            wrap(pass() & feedback(delay(t) * fb.clamp(0.0, 0.98)))
        }
        Node::Reverb(room, time, damp) => {
            wrap(reverb_stereo(room.clamp(1.0, 100.0), time.clamp(0.01, 60.0), damp.clamp(0.0, 1.0)))
        }
        Node::Pan(p) => wrap(pan(p.clamp(-1.0, 1.0))),
        Node::Tanh(drive) => wrap(shape(Tanh(drive.max(0.01)))),
        Node::Clip => wrap(clip()),
        Node::Pass(n) => {
            let mut net = Net::new(*n, *n);
            for i in 0..*n {
                net.pass_through(i, i);
            }
            net
        }
        Node::Sink(n) => Net::new(*n, 0),
        Node::Join(n) => {
            let mut sum = wrap(pass());
            for _ in 1..*n {
                sum = sum + wrap(pass());
            }
            sum >> wrap(mul(1.0 / *n as f32))
        }
        Node::Split(n) => {
            let mut net = Net::new(1, *n);
            for i in 0..*n {
                net.pass_through(0, i);
            }
            net
        }
        Node::Pipe(a, b) => build(a, cx) >> build(b, cx),
        Node::Stack(a, b) => build(a, cx) | build(b, cx),
        Node::Bus(a, b) => build(a, cx) & build(b, cx),
        Node::Arith(op, a, b) => {
            let (a, b) = (build(a, cx), build(b, cx));
            match op {
                Arith::Add => a + b,
                Arith::Sub => a - b,
                Arith::Mul => a * b,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx() -> NoteContext {
        NoteContext { sample_rate: 48000.0, freq: 440.0, gate: Some(4800), seed: 1 }
    }

    #[test]
    fn channel_counts_are_checked() {
        let saw = Graph::osc(Wave::Saw, Graph::freq()).unwrap();
        let lp = Graph::filter(Filter::Lowpass, Graph::constant(900.0), Graph::constant(0.5)).unwrap();
        let piped = Graph::pipe(saw.clone(), lp.clone()).unwrap();
        assert_eq!((piped.inputs(), piped.outputs()), (0, 1));
        let stereo = Graph::pipe(piped.clone(), Graph::leaf(Node::Pan(0.0))).unwrap();
        let err = Graph::pipe(stereo.clone(), lp).unwrap_err();
        assert!(err.contains("2 outputs") && err.contains("1 input"), "{err}");
        assert!(Graph::arith(Arith::Add, stereo.clone(), piped).is_err());
        let scaled = Graph::arith(Arith::Mul, stereo, Graph::constant(0.5)).unwrap();
        assert_eq!(scaled.outputs(), 2);
    }

    #[test]
    fn compiled_graphs_sound() {
        // (saw(freq) + saw(freq * 1.01)) >> lowpass(900, 0.4) * 0.3
        let f2 = Graph::arith(Arith::Mul, Graph::freq(), Graph::constant(1.01)).unwrap();
        let sum =
            Graph::arith(Arith::Add, Graph::osc(Wave::Saw, Graph::freq()).unwrap(), Graph::osc(Wave::Saw, f2).unwrap())
                .unwrap();
        let lp = Graph::filter(Filter::Lowpass, Graph::constant(900.0), Graph::constant(0.4)).unwrap();
        let g = Graph::pipe(sum, Graph::arith(Arith::Mul, lp, Graph::constant(0.3)).unwrap()).unwrap();
        let mut net = compile(&g, &cx());
        assert_eq!((net.inputs(), net.outputs()), (0, 1));
        let peak = (0..9600).map(|_| net.get_mono().abs()).fold(0.0f32, f32::max);
        assert!(peak > 0.05 && peak < 1.0, "{peak}");
    }

    #[test]
    fn modulated_filter_and_every_leaf_compile() {
        let lfo = Graph::arith(
            Arith::Add,
            Graph::arith(Arith::Mul, Graph::osc(Wave::Sine, Graph::constant(2.0)).unwrap(), Graph::constant(500.0))
                .unwrap(),
            Graph::constant(1000.0),
        )
        .unwrap();
        let lp = Graph::filter(Filter::Moog, lfo, Graph::constant(0.5)).unwrap();
        let g = Graph::pipe(Graph::leaf(Node::Noise(Noise::Pink)), lp).unwrap();
        let mut net = compile(&g, &cx());
        assert!((0..4800).map(|_| net.get_mono().abs()).sum::<f32>() > 1.0);
        for leaf in [Node::Delay(0.1), Node::Echo(0.1, 0.5), Node::Tanh(2.0), Node::Clip, Node::Join(3), Node::Split(3)]
        {
            let g = Graph::leaf(leaf);
            let net = compile(&g, &cx());
            assert_eq!((net.inputs(), net.outputs()), (g.inputs(), g.outputs()));
        }
    }
}
