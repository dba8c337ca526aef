//! The incremental surface engine: events in, one surface per underlying, refits on demand.
//!
//! [`SurfaceEngine::apply`] takes `option_quote` events (quotes), `mark` events of dated futures (forwards)
//! and `index` events (the index the staleness is measured against); other events are ignored. A quote
//! change marks only its expiry dirty; [`SurfaceEngine::refit`] refits the dirty expiries. Time enters only
//! through the events and the `now` arguments.

use crate::config::SurfaceConfig;
use crate::health::{health, SurfaceHealth};
use crate::marks::{marks, Mark, MarkBand, Unmarked};
use crate::quotes::InstrumentQuote;
use crate::surface::{RefitStats, UnderlyingSurface};
use crate::SurfaceError;
use rtm2m_market::event::{Event, IndexStatus};
use rtm2m_market::time::parse_deribit_expiry;
use rtm2m_market::Timestamp;
use std::collections::BTreeMap;

/// What an event did to the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// An option quote was stored.
    Quote,
    /// A dated future's price was stored as its expiry's forward.
    Future,
    /// The index was updated.
    Index,
    /// Not an input of the surface (spot trades, funding, perpetuals, halted indices, ...).
    Ignored,
}

/// Surfaces of every underlying seen, with their quotes.
#[derive(Debug, Clone)]
pub struct SurfaceEngine {
    config: SurfaceConfig,
    surfaces: BTreeMap<String, UnderlyingSurface>,
    last_event: Option<Timestamp>,
}

impl SurfaceEngine {
    /// An empty engine; the configuration is validated.
    pub fn new(config: SurfaceConfig) -> Result<SurfaceEngine, SurfaceError> {
        config.validate()?;
        Ok(SurfaceEngine {
            config,
            surfaces: BTreeMap::new(),
            last_event: None,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SurfaceConfig {
        &self.config
    }

    /// The time of the latest event applied.
    pub fn last_event(&self) -> Option<Timestamp> {
        self.last_event
    }

    /// Applies one event. An `option_quote` the surface cannot use is an error naming the field; the
    /// engine is unchanged then.
    pub fn apply(&mut self, event: &Event) -> Result<Applied, SurfaceError> {
        let applied = match event {
            Event::OptionQuote(q) => {
                let quote = InstrumentQuote::from_event(q)?;
                self.surface_mut(&quote.underlying).upsert(quote);
                Applied::Quote
            }
            Event::Mark(m) => match future_of(&m.instrument, &m.price_currency) {
                Some((underlying, expiry)) if m.price.is_finite() && m.price > 0.0 => {
                    self.surface_mut(&underlying)
                        .set_future(expiry, m.ts, m.price);
                    Applied::Future
                }
                _ => Applied::Ignored,
            },
            Event::Index(i) if i.status != IndexStatus::Halted => {
                self.surface_mut(&i.underlying).set_index(i.ts, i.price);
                Applied::Index
            }
            _ => Applied::Ignored,
        };
        let ts = event.ts();
        if self.last_event.is_none_or(|t| ts > t) {
            self.last_event = Some(ts);
        }
        Ok(applied)
    }

    fn surface_mut(&mut self, underlying: &str) -> &mut UnderlyingSurface {
        self.surfaces
            .entry(underlying.to_owned())
            .or_insert_with(|| UnderlyingSurface::new(underlying))
    }

    /// Refits the dirty expiries of every underlying at valuation time `now`.
    pub fn refit(&mut self, now: Timestamp) -> RefitStats {
        let mut total = RefitStats::default();
        for s in self.surfaces.values_mut() {
            let stats = s.refit(now, &self.config);
            total.fitted += stats.fitted;
            total.fallbacks += stats.fallbacks;
            total.evaluations += stats.evaluations;
            total.constrained += stats.constrained;
            total.expired += stats.expired;
        }
        total
    }

    /// Marks every expiry of every underlying dirty (cold: forget the previous fits too).
    pub fn invalidate(&mut self, cold: bool) {
        for s in self.surfaces.values_mut() {
            s.invalidate(cold);
        }
    }

    /// The underlyings, in name order.
    pub fn surfaces(&self) -> impl Iterator<Item = &UnderlyingSurface> {
        self.surfaces.values()
    }

    /// The surface of `underlying`.
    pub fn surface(&self, underlying: &str) -> Option<&UnderlyingSurface> {
        self.surfaces.get(underlying)
    }

    /// The health of `underlying`'s surface at `now` against its latest index.
    pub fn health(&self, underlying: &str, now: Timestamp) -> Option<SurfaceHealth> {
        let s = self.surfaces.get(underlying)?;
        Some(health(s, now, None, &self.config.stale))
    }

    /// Marks of `underlying`'s instruments at `now`, with its health.
    pub fn marks(
        &self,
        underlying: &str,
        now: Timestamp,
    ) -> Option<(SurfaceHealth, Vec<Mark>, Vec<Unmarked>)> {
        let s = self.surfaces.get(underlying)?;
        let h = health(s, now, None, &self.config.stale);
        let band = MarkBand {
            share: self.config.mark_band,
            wide_from: self.config.mark_band_wide_from,
        };
        let (m, u) = marks(s, now, &h, band);
        Some((h, m, u))
    }
}

/// The underlying and expiry of a coin-margined dated future named like `BTC-27MAR26` (USD-priced);
/// `None` for perpetuals, linear futures and anything else.
pub fn future_of(instrument: &str, price_currency: &str) -> Option<(String, Timestamp)> {
    if price_currency != "USD" {
        return None;
    }
    let (underlying, code) = instrument.split_once('-')?;
    if underlying.is_empty() || underlying.contains('_') || code.contains('-') {
        return None;
    }
    let expiry = parse_deribit_expiry(code).ok()?;
    Some((underlying.to_owned(), expiry))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dated_futures_are_recognised_and_perpetuals_are_not() {
        let (u, e) = future_of("BTC-27MAR26", "USD").expect("a dated future");
        assert_eq!(u, "BTC");
        assert_eq!(e.to_string(), "2026-03-27T08:00:00.000000000Z");
        assert!(future_of("BTC-PERPETUAL", "USD").is_none());
        assert!(future_of("BTC_USDC-27MAR26", "USDC").is_none());
        assert!(future_of("BTC-27MAR26-80000-C", "USD").is_none());
    }
}
