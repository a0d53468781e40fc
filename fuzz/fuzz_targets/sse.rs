//! `SseParser` and `LineSplitter` on any bytes cut anywhere: the events (and lines) are
//! the same whether the bytes arrive whole, in the chunks the input's header picks, or
//! one byte at a time; the splitter loses no byte of any line it emits.
//!
//! Input: `[n][n cut points][stream bytes]`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_gateway::providers::sse::{LineSplitter, SseEvent, SseParser, MAX_PENDING};

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else { return };
    let n = usize::from(n % 16).min(rest.len());
    let (cuts, stream) = rest.split_at(n);
    let mut cuts: Vec<usize> = cuts.iter().map(|&c| usize::from(c) * stream.len() / 255).collect();
    cuts.sort_unstable();

    let whole = parse(std::iter::once(stream));
    let chunks = chunks(stream, &cuts);
    assert_eq!(parse(chunks.iter().copied()), whole, "events differ when cut at {cuts:?}");
    assert_eq!(parse(stream.chunks(1)), whole, "events differ when fed byte by byte");
    for ev in &whole {
        assert!(ev.data.len() <= MAX_PENDING && ev.data.len() <= stream.len() * 3);
    }

    let lines_whole = lines(std::iter::once(stream));
    assert_eq!(lines(chunks.iter().copied()), lines_whole);
    // No line is longer than MAX_PENDING here, so joining the lines gives the input back.
    let mut joined = Vec::new();
    for (i, l) in lines_whole.iter().enumerate() {
        if i > 0 {
            joined.push(b'\n');
        }
        joined.extend_from_slice(l);
    }
    assert_eq!(joined, stream);
});

fn chunks<'a>(stream: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut at = 0;
    for &c in cuts {
        out.push(&stream[at..c]);
        at = c;
    }
    out.push(&stream[at..]);
    out
}

fn parse<'a>(chunks: impl Iterator<Item = &'a [u8]>) -> Vec<SseEvent> {
    let mut p = SseParser::default();
    let mut out = Vec::new();
    for c in chunks {
        p.feed(c, &mut out);
    }
    p.finish(&mut out);
    out
}

/// Every complete line, then the unfinished rest (possibly empty) as the last one.
fn lines<'a>(chunks: impl Iterator<Item = &'a [u8]>) -> Vec<Vec<u8>> {
    let mut s = LineSplitter::default();
    let mut out = Vec::new();
    for c in chunks {
        s.feed(c, |l| out.push(l.to_vec()));
    }
    out.push(s.take_rest());
    out
}
