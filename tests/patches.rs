//! Every bundled patch compiles, renders without warnings, and is not silent.

mod audio;

use audio::*;
use rhaithm::dsp::samples::SampleLibrary;
use rhaithm::engine::{Length, render};
use rhaithm::patch::Patch;

#[test]
fn every_bundled_patch_renders_and_sounds() {
    let mut seen = 0;
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/patches")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rhai") {
            continue;
        }
        seen += 1;
        let patch = Patch::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let r = render(&patch, SampleLibrary::default(), SR, Length::Cycles(4.0), |_| {});
        let name = path.display();
        assert!(r.warnings.is_empty(), "{name}: {:?}", r.warnings);
        assert!(patch.take_query_error().is_none(), "{name}");
        assert_eq!((r.blown_up, r.non_finite), (0, 0), "{name}");
        for c in 0..2 {
            let x = r.channel(c);
            assert!(rms(&x) > 0.02, "{name}: channel {c} is nearly silent ({})", rms(&x));
            // Not silent for long anywhere: every second has sound.
            for (i, second) in x.chunks(SR as usize).enumerate() {
                assert!(rms(second) > 0.003, "{name}: second {i} of channel {c} is silent");
            }
        }
        assert!(peak(&r.samples) <= 1.0);
    }
    assert!(seen >= 6, "six or more patches");
}
