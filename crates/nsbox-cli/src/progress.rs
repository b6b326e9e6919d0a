//! Import progress: a bar (indicatif) on a terminal, plain lines otherwise.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use nsbox_image::Progress;

/// Draws an import's progress on stderr.
pub struct Bar {
    bar: Option<ProgressBar>,
    layers_reported: usize,
    quiet: bool,
}

impl Bar {
    pub fn new(what: &str, quiet: bool) -> Bar {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} ({binary_bytes_per_sec})")
                    .expect("a valid template")
                    .progress_chars("=> "),
            );
            bar.set_message(what.to_owned());
            bar
        });
        Bar {
            bar,
            layers_reported: 0,
            quiet,
        }
    }

    pub fn update(&mut self, p: Progress) {
        match &self.bar {
            Some(bar) => {
                bar.set_length(p.bytes_total);
                bar.set_position(p.bytes_done);
            }
            None if !self.quiet && p.layers_done > self.layers_reported => {
                self.layers_reported = p.layers_done;
                eprintln!(
                    "layer {}/{} done ({} of {} bytes)",
                    p.layers_done, p.layers_total, p.bytes_done, p.bytes_total
                );
            }
            None => {}
        }
    }

    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}
