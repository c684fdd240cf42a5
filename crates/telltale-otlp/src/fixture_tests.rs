//! Decoding tests on OTLP bodies recorded from other SDKs (filled in below).
