//! A second-order filter (RBJ cookbook coefficients, transposed direct form II) as a
//! fundsp node with a tight block loop: the per-voice `lpf`, `hpf` and `bpf`.

use fundsp::prelude32::*;

/// Filter response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Response {
    /// Low-pass.
    Lowpass,
    /// High-pass.
    Highpass,
    /// Band-pass (0 dB peak).
    Bandpass,
}

/// A fixed biquad on one channel.
#[derive(Clone, Debug)]
pub struct Biquad {
    response: Response,
    hz: f32,
    q: f32,
    c: [f32; 5],
    z: [f32; 2],
}

/// A biquad at a cutoff (Hz) and Q.
pub fn biquad_hz(response: Response, hz: f32, q: f32) -> An<Biquad> {
    let mut b = Biquad { response, hz, q, c: [0.0; 5], z: [0.0; 2] };
    b.design(DEFAULT_SR);
    An(b)
}

impl Biquad {
    fn design(&mut self, sample_rate: f64) {
        let w = 2.0 * std::f64::consts::PI * (self.hz as f64).clamp(1.0, sample_rate * 0.49) / sample_rate;
        let (sin, cos) = w.sin_cos();
        let alpha = sin / (2.0 * (self.q as f64).max(0.01));
        let (b0, b1, b2) = match self.response {
            Response::Lowpass => ((1.0 - cos) / 2.0, 1.0 - cos, (1.0 - cos) / 2.0),
            Response::Highpass => ((1.0 + cos) / 2.0, -(1.0 + cos), (1.0 + cos) / 2.0),
            Response::Bandpass => (alpha, 0.0, -alpha),
        };
        let a0 = 1.0 + alpha;
        let (a1, a2) = (-2.0 * cos, 1.0 - alpha);
        self.c = [b0 / a0, b1 / a0, b2 / a0, a1 / a0, a2 / a0].map(|x| x as f32);
    }
}

impl AudioNode for Biquad {
    const ID: u64 = 0x7268_6169_0004;
    type Inputs = U1;
    type Outputs = U1;

    fn reset(&mut self) {
        self.z = [0.0; 2];
    }

    fn set_sample_rate(&mut self, sample_rate: f64) {
        self.design(sample_rate);
    }

    #[inline]
    fn tick(&mut self, input: &Frame<f32, U1>) -> Frame<f32, U1> {
        let [b0, b1, b2, a1, a2] = self.c;
        let x = input[0];
        let y = b0 * x + self.z[0];
        self.z[0] = b1 * x - a1 * y + self.z[1];
        self.z[1] = b2 * x - a2 * y;
        [y].into()
    }

    fn process(&mut self, size: usize, input: &BufferRef, output: &mut BufferMut) {
        let [b0, b1, b2, a1, a2] = self.c;
        let [mut z0, mut z1] = self.z;
        for (y, &x) in output.channel_f32_mut(0)[..size].iter_mut().zip(input.channel_f32(0)) {
            let out = b0 * x + z0;
            z0 = b1 * x - a1 * out + z1;
            z1 = b2 * x - a2 * out;
            *y = out;
        }
        self.z = [z0, z1];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gain_at(response: Response, hz: f32, probe: f64) -> f64 {
        let mut f = biquad_hz(response, hz, 0.707);
        f.set_sample_rate(48000.0);
        let mut peak = 0.0f64;
        for i in 0..48000 {
            let x = (2.0 * std::f64::consts::PI * probe * i as f64 / 48000.0).sin() as f32;
            let y = f.filter_mono(x) as f64;
            if i > 24000 {
                peak = peak.max(y.abs());
            }
        }
        peak
    }

    #[test]
    fn responses_pass_and_stop_where_they_should() {
        assert!(gain_at(Response::Lowpass, 1000.0, 100.0) > 0.95);
        assert!(gain_at(Response::Lowpass, 1000.0, 10000.0) < 0.02);
        assert!(gain_at(Response::Highpass, 1000.0, 100.0) < 0.02);
        assert!(gain_at(Response::Highpass, 1000.0, 10000.0) > 0.95);
        assert!(gain_at(Response::Bandpass, 1000.0, 1000.0) > 0.95);
        assert!((gain_at(Response::Lowpass, 1000.0, 1000.0) - 0.707).abs() < 0.02);
    }
}
