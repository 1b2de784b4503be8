//! Renders patches offline and measures the audio: pitch, onsets, stereo, levels,
//! spectra, determinism, the master bus, samples, effects and errors.

mod audio;

use audio::*;
use rhaithm::dsp::samples::SampleLibrary;
use rhaithm::patch::Patch;

#[test]
fn a4_sine_peaks_at_440_hz() {
    let r = render_src(r#"setcps(0.5); d1(note("a4").s("sine"))"#, 1.8);
    let left = r.channel(0);
    let hz = peak_hz(&left[4800..4800 + 65536]);
    assert!((hz - 440.0).abs() < 0.5, "peak at {hz} Hz");
    let hz = peak_hz(&render_src(r#"d1(freq(1000).s("sine"))"#, 1.8).channel(0)[4800..4800 + 65536]);
    assert!((hz - 1000.0).abs() < 0.5, "freq control: {hz} Hz");
}

#[test]
fn kick_onsets_fall_on_the_beat() {
    let r = render_src(r#"setcps(0.5); d1(s("bd*4"))"#, 2.0);
    let x = r.channel(0);
    let found = onsets(&x, 0.05, 0.05);
    assert_eq!(found.len(), 4, "{found:?}");
    for (got, want) in found.iter().zip([0.0, 0.5, 1.0, 1.5]) {
        assert!((got - want).abs() <= 0.001, "onset at {got} s, expected {want} s");
    }
}

#[test]
fn pan_puts_the_energy_on_one_side() {
    for (pan, louder) in [(0.0, 0), (1.0, 1)] {
        let r = render_src(&format!(r#"d1(note("c4").s("saw").pan({pan}))"#), 1.0);
        let (l, rr) = (rms(&r.channel(0)), rms(&r.channel(1)));
        let (hi, lo) = if louder == 0 { (l, rr) } else { (rr, l) };
        assert!(hi > 0.01 && lo < hi * 1e-3, "pan {pan}: left {l}, right {rr}");
    }
    let r = render_src(r#"d1(note("c4").s("saw"))"#, 1.0);
    let (l, rr) = (rms(&r.channel(0)), rms(&r.channel(1)));
    assert!((l / rr - 1.0).abs() < 1e-3, "centre is balanced");
}

#[test]
fn gain_half_halves_the_amplitude() {
    let full = rms(&render_src(r#"d1(note("c3 e3 g3").s("supersaw"))"#, 2.0).channel(0));
    let half = rms(&render_src(r#"d1(note("c3 e3 g3").s("supersaw").gain(0.5))"#, 2.0).channel(0));
    assert!((half / full - 0.5).abs() < 0.005, "ratio {}", half / full);
}

#[test]
fn lpf_lowers_the_spectral_centroid() {
    let open = render_src(r#"d1(note("c3").s("saw").sustain(1))"#, 2.0).channel(0);
    let closed = render_src(r#"d1(note("c3").s("saw").sustain(1).lpf(400))"#, 2.0).channel(0);
    let (a, b) = (centroid(&open[2400..2400 + 32768]), centroid(&closed[2400..2400 + 32768]));
    assert!(b < a * 0.5, "centroid {a} Hz open, {b} Hz filtered");
    let high = render_src(r#"d1(note("c3").s("saw").sustain(1).hpf(3000))"#, 2.0).channel(0);
    assert!(centroid(&high[2400..2400 + 32768]) > a, "hpf raises it");
}

#[test]
fn renders_are_bit_identical() {
    let src = r#"
        setbpm(130);
        d1(s("bd*4, [~ sn]*2, hh*8?").n("<0 1 2 3>"));
        d2(note("c2 [eb2 g2] <bb1 f2>").s("<supersaw fm>").lpf(rand.range(300, 3000)).room(0.3));
        d3(s("white pink brown").gain(0.2).delay(0.4));
    "#;
    let a = render_src(src, 4.0);
    let b = render_src(src, 4.0);
    assert!(rms(&a.samples) > 0.01);
    assert!(a.samples == b.samples, "two renders differ");
}

#[test]
fn absurd_gain_stays_under_0_dbfs() {
    let r = render_src(r#"d1(s("bd*4, sn*2").gain(1000)); d2(note("c2").s("saw").gain(1e6))"#, 2.0);
    let p = peak(&r.samples);
    assert!(p <= 1.0 && p > 0.9, "peak {p}");
    assert!(r.limited > 0);
}

#[test]
fn a_blown_up_instrument_is_silenced_and_reported() {
    let r = render_src(
        r#"instrument("boom", |freq| sine(freq) * 1e30 * 1e30);
           d1(note("c3").s("boom")); d2(s("hh*8"))"#,
        1.0,
    );
    assert!(r.samples.iter().all(|x| x.is_finite()));
    assert!(r.blown_up > 0, "the bad voice is counted");
    assert!(rms(&r.channel(0)) > 0.001, "the hats keep playing");
}

#[test]
fn samples_play_the_right_file() {
    let dir = tempfile::tempdir().unwrap();
    let bank = dir.path().join("x");
    std::fs::create_dir(&bank).unwrap();
    write_sine_wav(&bank.join("a_low.wav"), 220.0, 1.0, 44100);
    write_sine_wav(&bank.join("b_high.wav"), 880.0, 1.0, 22050);
    std::fs::write(bank.join("notes.txt"), "not audio").unwrap();
    let lib = || SampleLibrary::scan(&[dir.path().to_path_buf()]);
    for (n, want) in [(0, 220.0), (1, 880.0), (3, 880.0), (-2, 220.0)] {
        let r = render_with(&format!(r#"d1(s("x:{n}"))"#), 1.5, lib());
        let hz = peak_hz(&r.channel(0)[..32768]);
        assert!((hz - want).abs() < 1.0, "x:{n} played {hz} Hz, expected {want}");
    }
    // Speed doubles the pitch; a note transposes from c2.
    let r = render_with(r#"d1(s("x").speed(2))"#, 1.5, lib());
    assert!((peak_hz(&r.channel(0)[..16384]) - 440.0).abs() < 2.0);
    let r = render_with(r#"d1(s("x").note(48))"#, 1.5, lib());
    assert!((peak_hz(&r.channel(0)[..16384]) - 440.0).abs() < 2.0);
}

#[test]
fn negative_speed_plays_backwards_and_begin_end_trim() {
    let dir = tempfile::tempdir().unwrap();
    let bank = dir.path().join("ramp");
    std::fs::create_dir(&bank).unwrap();
    // A sample that is silent for its first half and loud in its second.
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(bank.join("r.wav"), spec).unwrap();
    for i in 0..48000 {
        let x = if i < 24000 { 0.0 } else { (i as f64 * 0.05).sin() * 0.5 };
        w.write_sample((x * 32767.0) as i16).unwrap();
    }
    w.finalize().unwrap();
    let lib = || SampleLibrary::scan(&[dir.path().to_path_buf()]);
    let fwd = render_with(r#"setcps(0.25); d1(s("ramp"))"#, 1.2, lib()).channel(0);
    let back = render_with(r#"setcps(0.25); d1(s("ramp").speed(-1))"#, 1.2, lib()).channel(0);
    assert!(rms(&fwd[..20000]) < 1e-4 && rms(&fwd[26000..46000]) > 0.1);
    assert!(rms(&back[..20000]) > 0.1 && rms(&back[30000..46000]) < 1e-4);
    let trimmed = render_with(r#"setcps(0.25); d1(s("ramp").begin(0.5).end(0.75))"#, 1.2, lib()).channel(0);
    assert!(rms(&trimmed[..10000]) > 0.1 && rms(&trimmed[17000..40000]) < 1e-4);
}

#[test]
fn a_missing_sound_is_a_warning_and_the_rest_plays() {
    let r = render_src(r#"d1(s("nosuchthing*4")); d2(s("hh*8")); d3(note("c3").vowel("a"))"#, 1.0);
    assert!(r.warnings.iter().any(|w| w.contains("\"nosuchthing\"")), "{:?}", r.warnings);
    assert_eq!(r.warnings.iter().filter(|w| w.contains("nosuchthing")).count(), 1, "warned once");
    assert!(r.warnings.iter().any(|w| w.contains("\"vowel\"")), "{:?}", r.warnings);
    assert!(rms(&r.channel(0)) > 0.001);
}

#[test]
fn envelope_and_legato_shape_notes() {
    // A slow attack is quiet at first.
    let x = render_src(r#"setcps(0.5); d1(note("c4").s("sine").attack(0.5))"#, 1.0).channel(0);
    assert!(rms(&x[0..2400]) < rms(&x[21600..24000]) * 0.2);
    // clip(0.25) ends a 2 s note after about 0.5 s.
    let x = render_src(r#"setcps(0.5); d1(note("c4").s("sine").clip(0.25))"#, 1.5).channel(0);
    assert!(rms(&x[12000..22000]) > 0.05 && rms(&x[26000..48000]) < 1e-4);
}

#[test]
fn reverb_and_delay_leave_tails_on_their_orbit() {
    let dry = render_src(r#"setcps(0.5); d1(s("rim"))"#, 1.5).channel(0);
    let wet = render_src(r#"setcps(0.5); d1(s("rim").room(0.8).size(0.9))"#, 1.5).channel(0);
    assert!(rms(&dry[24000..48000]) < 1e-5);
    assert!(rms(&wet[24000..48000]) > 1e-3, "reverb tail");
    let echo = render_src(r#"setcps(0.5); d1(s("rim").delay(0.8).delaytime(0.25).delayfeedback(0.5))"#, 1.5).channel(0);
    let found = onsets(&echo, 0.02, 0.1);
    assert!(found.len() >= 3, "{found:?}");
    assert!((found[1] - 0.25).abs() < 0.003 && (found[2] - 0.5).abs() < 0.003, "{found:?}");
    // Two tracks on one orbit share one reverb: its size is set by the latest event.
    let shared =
        render_src(r#"setcps(0.5); d1(s("rim").room(0.8).size(0.9).orbit(1)); d2(s("~ cp").orbit(1).size(0.1))"#, 2.0);
    assert!(rms(&shared.channel(0)) > 0.0);
}

#[test]
fn crush_coarse_and_shape_change_the_waveform() {
    let clean = render_src(r#"d1(note("a3").s("sine").gain(3))"#, 0.5).channel(0);
    for effect in ["crush(3)", "coarse(8)", "shape(0.9)", "distort(2)"] {
        let x = render_src(&format!(r#"d1(note("a3").s("sine").gain(3).{effect})"#), 0.5).channel(0);
        assert!(centroid(&x[2400..2400 + 8192]) > centroid(&clean[2400..2400 + 8192]) * 1.2, "{effect} adds harmonics");
    }
}

#[test]
fn cut_groups_stop_the_previous_voice() {
    let long = r#"setcps(0.5); d1(s("cr cr"))"#;
    let cut = r#"setcps(0.5); d1(s("cr cr").cut(1))"#;
    let (a, b) = (render_src(long, 2.0).channel(0), render_src(cut, 2.0).channel(0));
    // Just after the second crash starts, the first one's tail is gone when cut.
    let after = 48000 + 960..48000 + 4800;
    assert!(rms(&b[after.clone()]) < rms(&a[after]), "the cut removes the first crash's tail");
}

#[test]
fn channel_mismatch_is_a_script_error_with_position() {
    let src = "instrument(\"bad\", |freq| saw(freq) >> panner(0.0) >> lowpass(900, 0.5));\nd1(s(\"bad\"))";
    let err = Patch::compile(src, None).err().expect("must fail");
    assert_eq!(err.line, 1, "{err}");
    assert!(err.column > 30, "{err}");
    assert!(err.message.contains("2 outputs") && err.message.contains("1 input"), "{err}");
    let err =
        Patch::compile("d1(s(\"bd\"));\ninstrument(\"x\", |f| pulse(f, 0.5) | sine(f) | saw(f));", None).err().unwrap();
    assert_eq!(err.line, 2, "{err}");
    assert!(err.message.contains("1 or 2 outputs"), "{err}");
}

#[test]
fn user_instruments_follow_the_notes() {
    let r = render_src(
        r#"instrument("pad", |freq| (saw(freq) + saw(freq * 1.01)) >> lowpass(900, 0.4) * 0.3);
           d1(note("a3").s("pad").sustain(1))"#,
        1.5,
    );
    let hz = peak_hz(&r.channel(0)[2400..2400 + 32768]);
    assert!((hz - 220.0).abs() < 2.0, "{hz}");
    // `>>` binds looser than `*` and `+`, tighter than `|`, as in Rust.
    let r = render_src(r#"instrument("st", |freq| sine(freq) * 0.5 >> panner(-1.0)); d1(note("a4").s("st"))"#, 0.5);
    assert!(rms(&r.channel(0)) > 0.05 && rms(&r.channel(1)) < 1e-4);
}

#[test]
fn every_builtin_sound_makes_sound() {
    for name in rhaithm::dsp::synth::SYNTHS.iter().chain(rhaithm::dsp::drums::DRUMS) {
        let r = render_src(&format!(r#"setcps(1); d1(s("{name}").note("c3"))"#), 0.5);
        assert!(rms(&r.samples) > 0.005, "{name} is silent");
        assert!(r.warnings.is_empty(), "{name}: {:?}", r.warnings);
    }
}

#[test]
fn tempo_functions() {
    for (src, cps) in [("setcps(0.75)", 0.75), ("setcpm(30)", 0.5), ("setbpm(124)", 124.0 / 240.0)] {
        let p = Patch::compile(src, None).unwrap();
        assert!((p.cps_or_default() - cps).abs() < 1e-12);
    }
    let p =
        Patch::compile(r#"d1(s("bd")); track("bass", note("c2")); d1(s("sn")); hush(); d2(s("hh"))"#, None).unwrap();
    assert_eq!(p.tracks.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), vec!["d2"]);
    let err = Patch::compile("setbpm(-3)", None).err().unwrap();
    assert_eq!((err.line, err.column), (1, 1), "{err}");
}
