//! What the store tests share: events and requests to append, the deadline of every wait, and
//! the seeded random source.

use std::time::Duration;

use ledger_events::domain::CustomerRegistered;
use ledger_events::{AppendRequest, DomainEvent, EventMetadata, ExpectedVersion, Source, StreamId};
use rand::{Rng, SeedableRng};

/// How long any wait for the feed or for a lock may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// The seed of this run's random choices: `LEDGER_TEST_SEED` to replay a failure, else a fresh
/// one. Printed either way (a failing test's output is shown).
pub fn seeded_rng() -> rand::rngs::StdRng {
    let seed = match std::env::var("LEDGER_TEST_SEED") {
        Ok(text) => text
            .trim()
            .parse()
            .expect("LEDGER_TEST_SEED is an unsigned 64-bit number"),
        Err(_) => rand::thread_rng().gen(),
    };
    println!("random seed {seed} (replay with LEDGER_TEST_SEED={seed})");
    rand::rngs::StdRng::seed_from_u64(seed)
}

pub fn registered(customer_id: &str, name: &str) -> DomainEvent {
    CustomerRegistered {
        customer_id: customer_id.into(),
        phone: None,
        telegram_id: None,
        name: Some(name.into()),
    }
    .into()
}

pub fn request(stream: &StreamId, expected: ExpectedVersion, name: &str) -> AppendRequest {
    AppendRequest::new(EventMetadata::new(Source::Api, "test"))
        .expect(stream, expected)
        .event(stream, registered(stream.entity_id(), name))
}
