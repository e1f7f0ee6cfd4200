//! A cost estimate for a turn of `invoke chat`: on-demand list prices in
//! US dollars per thousand tokens, in US East (N. Virginia), as the Amazon
//! Bedrock pricing page gave them in 2025.
//!
//! An estimate only: prices change, differ by region and by inference
//! profile, and a bill can hold discounts, batch or provisioned rates the
//! tool cannot know. A model that is not here gets no estimate rather than
//! a guess.

/// Dollars per thousand input and output tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Price {
    pub(crate) input: f64,
    pub(crate) output: f64,
}

/// Prices by base model id prefix (the first that matches wins).
const PRICES: [(&str, f64, f64); 22] = [
    ("anthropic.claude-3-haiku", 0.000_25, 0.001_25),
    ("anthropic.claude-3-5-haiku", 0.000_8, 0.004),
    ("anthropic.claude-3-sonnet", 0.003, 0.015),
    ("anthropic.claude-3-5-sonnet", 0.003, 0.015),
    ("anthropic.claude-3-7-sonnet", 0.003, 0.015),
    ("anthropic.claude-sonnet-4", 0.003, 0.015),
    ("anthropic.claude-3-opus", 0.015, 0.075),
    ("anthropic.claude-opus-4", 0.015, 0.075),
    ("amazon.nova-micro", 0.000_035, 0.000_14),
    ("amazon.nova-lite", 0.000_06, 0.000_24),
    ("amazon.nova-pro", 0.000_8, 0.003_2),
    ("amazon.titan-text-lite", 0.000_15, 0.000_2),
    ("amazon.titan-text-express", 0.000_2, 0.000_6),
    ("meta.llama3-1-8b", 0.000_22, 0.000_22),
    ("meta.llama3-1-70b", 0.000_72, 0.000_72),
    ("mistral.mistral-7b", 0.000_15, 0.000_2),
    ("mistral.mixtral-8x7b", 0.000_45, 0.000_7),
    ("mistral.mistral-large-2407", 0.002, 0.006),
    ("cohere.command-r-plus", 0.003, 0.015),
    ("cohere.command-r-v1", 0.000_5, 0.001_5),
    ("ai21.jamba-1-5-mini", 0.000_2, 0.000_4),
    ("deepseek.r1", 0.001_35, 0.005_4),
];

/// The list price of `model` (an id, an inference profile id or an ARN),
/// if known.
pub(crate) fn price(model: &str) -> Option<Price> {
    let base = super::families::base_model_id(model);
    PRICES
        .iter()
        .find(|(prefix, _, _)| base.starts_with(prefix))
        .map(|&(_, input, output)| Price { input, output })
}

/// The estimated cost in dollars of `input` and `output` tokens.
pub(crate) fn cost(model: &str, input: u64, output: u64) -> Option<f64> {
    let p = price(model)?;
    Some((input as f64 * p.input + output as f64 * p.output) / 1000.0)
}

/// A cost as people read it: `$0.0123`, or `<$0.0001`.
pub(crate) fn dollars(cost: f64) -> String {
    if cost > 0.0 && cost < 0.000_05 {
        "<$0.0001".into()
    } else {
        format!("${cost:.4}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_from_list_prices() {
        let c = cost("us.anthropic.claude-3-haiku-20240307-v1:0", 1000, 1000).unwrap();
        assert!((c - 0.0015).abs() < 1e-12, "{c}");
        assert_eq!(
            price("anthropic.claude-3-5-haiku-20241022-v1:0")
                .unwrap()
                .input,
            0.0008
        );
        assert!(price("writer.palmyra-x5-v1:0").is_none(), "no guess");
        assert_eq!(dollars(0.0015), "$0.0015");
        assert_eq!(dollars(0.000_001), "<$0.0001");
    }
}
