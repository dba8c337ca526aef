//! `rtm2m`: the command-line interface of the rtm2m mark-to-market and margin engine.
//!
//! Each subcommand lives in `commands/`; CSV parsing and formatting shared by them lives in `table`.
#![deny(unsafe_op_in_unsafe_fn)]

mod commands;
mod table;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Real-time mark-to-market and margin engine for crypto derivatives.
#[derive(Debug, Parser)]
#[command(name = "rtm2m", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Price options with Greeks from CSV (`type,spot,strike,expiry_years,vol,rate,dividend`).
    Price(commands::price::PriceArgs),
    /// Implied volatilities from CSV (`type,price,spot,strike,expiry_years,rate,dividend`).
    Iv(commands::iv::IvArgs),
    /// Time the batch pricing and implied-volatility paths on random realistic crypto inputs.
    Bench(commands::bench::BenchArgs),
    /// Reproduce other venues' published margin vectors (Derive PMRM_2 and SRM, Deribit PM).
    Conformance(commands::conformance::ConformanceArgs),
    /// Margin every account of a portfolio on a market snapshot (`--model standard|rtm2m|deribit-pm|derive-pmrm2`).
    Margin(commands::margin::MarginArgs),
    /// Process an input stream durably: apply, journal, write outputs, acknowledge (docs/engine.md).
    Run(commands::run::RunArgs),
    /// Rebuild the state from a journal and write its outputs again.
    Replay(commands::replay::ReplayArgs),
    /// Print the state hash of a journal's recovered state.
    StateHash(commands::state_hash::StateHashArgs),
    /// Import exchange files into events (JSON Lines, docs/events.md), merged in time order.
    Import(commands::import::ImportArgs),
    /// Index updates per underlying from events (`--method capped-median|median|vwap`), one per cycle.
    Index(commands::index::IndexArgs),
    /// Simulations on synthetic populations (`simulate cascade`: liquidation cascade, continuous against
    /// periodic marking).
    Simulate(commands::simulate::SimulateArgs),
    /// An account's Merkle inclusion proof in the margin-state root and its liability proof for proof of
    /// solvency, optionally with a keeper's EIP-712 attestation (docs/proofs.md).
    Proof(commands::proof::ProofArgs),
    /// The engine as a service: HTTP + WebSocket API, dashboard, Prometheus metrics, fed by a seeded market
    /// simulator (or `--replay PATH`); docs/service.md.
    Serve(commands::serve::ServeArgs),
    /// Fit the implied-volatility surface of option chains (SVI per expiry, no butterfly or calendar
    /// arbitrage) and write per-expiry reports and, with --marks, per-instrument marks.
    Surface(commands::surface::SurfaceArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Price(args) => commands::price::run(&args),
        Command::Iv(args) => commands::iv::run(&args),
        Command::Bench(args) => commands::bench::run(&args),
        Command::Conformance(args) => commands::conformance::run(&args),
        Command::Margin(args) => commands::margin::run(&args),
        Command::Run(args) => commands::run::run(&args),
        Command::Replay(args) => commands::replay::run(&args),
        Command::StateHash(args) => commands::state_hash::run(&args),
        Command::Import(args) => commands::import::run(&args),
        Command::Index(args) => commands::index::run(&args),
        Command::Simulate(args) => commands::simulate::run(&args),
        Command::Proof(args) => commands::proof::run(&args),
        Command::Serve(args) => commands::serve::run(&args),
        Command::Surface(args) => commands::surface::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("rtm2m: {error:#}");
            let bad_input = error.downcast_ref::<table::InputError>().is_some()
                || error
                    .downcast_ref::<rtm2m_market::import::ImportError>()
                    .is_some()
                || error.downcast_ref::<rtm2m_proof::ProofError>().is_some();
            if bad_input {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
