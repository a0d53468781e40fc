//! The inference browser's query string (`GET /api/v1/inferences?…`) as the route takes
//! it: axum's `Query<BrowseQuery>` extraction, `BrowseQuery::into_parts` (the `status`
//! and `trace_id` filters) and the cursor decoder. Nothing panics; a refused parameter is a 400 whose
//! message names the parameter; a cursor the API hands out decodes to what it encodes.
#![no_main]

use axum::extract::Query;
use http::Uri;
use libfuzzer_sys::fuzz_target;
use switchyard_control_api::analytics::browser::{decode_cursor, encode_cursor};
use switchyard_control_api::analytics::{AnalyticsError, StatusFilter};
use switchyard_control_api::routes::insights::BrowseQuery;

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else { return };
    if let Ok(uri) = format!("/api/v1/inferences?{query}").parse::<Uri>() {
        if let Ok(Query(q)) = Query::<BrowseQuery>::try_from_uri(&uri) {
            match q.into_parts() {
                Ok((filter, cursor, _limit)) => {
                    if let Some(c) = cursor {
                        check_cursor(&c);
                    }
                    drop(filter);
                }
                Err(e) => named(&e, &["status", "trace_id"]),
            }
        }
    }
    // The raw text as one parameter's value.
    match StatusFilter::parse(query) {
        Ok(StatusFilter::Code(c)) => assert!((100..600).contains(&c)),
        Ok(StatusFilter::Class(d)) => assert!((1..=5).contains(&d)),
        Ok(_) => {}
        Err(e) => named(&e, &["status"]),
    }
    check_cursor(query);
    // A cursor this API hands out decodes to what it encodes.
    if let Some((ts, id)) = query.split_once('|') {
        let ts = ts.bytes().fold(0i64, |a, b| a.wrapping_mul(31).wrapping_add(i64::from(b)));
        assert_eq!(decode_cursor(&encode_cursor(ts, id)).expect("our own cursor"), (ts, id.to_owned()));
    }
});

fn check_cursor(c: &str) {
    if let Err(e) = decode_cursor(c) {
        named(&e, &["cursor"]);
    }
}

fn named(e: &AnalyticsError, fields: &[&str]) {
    match e {
        AnalyticsError::InvalidInput { field, message } => {
            assert!(fields.contains(field), "{field} is not one of {fields:?}");
            assert!(!message.is_empty());
        }
        other => panic!("a bad {fields:?} is not a client error: {other}"),
    }
}
