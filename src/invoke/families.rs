//! What the tool knows about model ids: the base id behind an inference
//! profile, the profile for a region, and which models take a system
//! prompt. How each family's replies are read is in `replies`.

/// The base model id: any ARN prefix and inference-profile prefix (`us.`,
/// `eu.`, `apac.`, `global.`, `us-gov.`) removed.
pub(crate) fn base_model_id(model: &str) -> &str {
    let model = model.rsplit('/').next().unwrap_or(model);
    for prefix in ["us.", "eu.", "apac.", "global.", "us-gov."] {
        if let Some(rest) = model.strip_prefix(prefix) {
            return rest;
        }
    }
    model
}

/// Whether Converse takes a system prompt for this model. The Bedrock User
/// Guide's table of Converse features says no for Amazon Titan Text, the
/// Mistral AI Instruct models (7B and Mixtral), Cohere Command (text and
/// light) and AI21 Jurassic-2.
pub(crate) fn supports_system(model: &str) -> bool {
    const WITHOUT: [&str; 6] = [
        "amazon.titan-text",
        "mistral.mistral-7b",
        "mistral.mixtral",
        "cohere.command-text",
        "cohere.command-light",
        "ai21.j2",
    ];
    let base = base_model_id(model);
    !WITHOUT.iter().any(|p| base.starts_with(p))
}

/// Whether Converse takes images for this model, as the Bedrock User
/// Guide's table of model features says: `Some(false)` for the families it
/// lists without them, `None` for a model this tool does not know (the
/// service decides).
pub(crate) fn takes_images(model: &str) -> Option<bool> {
    const WITH: [&str; 12] = [
        "anthropic.claude-3-haiku",
        "anthropic.claude-3-sonnet",
        "anthropic.claude-3-opus",
        "anthropic.claude-3-5-sonnet",
        "anthropic.claude-3-7",
        "anthropic.claude-sonnet-4",
        "anthropic.claude-opus-4",
        "amazon.nova-lite",
        "amazon.nova-pro",
        "amazon.nova-premier",
        "meta.llama3-2-11b",
        "meta.llama3-2-90b",
    ];
    const WITHOUT: [&str; 16] = [
        "anthropic.claude-3-5-haiku",
        "anthropic.claude-v2",
        "anthropic.claude-instant",
        "amazon.nova-micro",
        "amazon.titan-text",
        "meta.llama3-8b",
        "meta.llama3-70b",
        "meta.llama3-1",
        "meta.llama3-2-1b",
        "meta.llama3-2-3b",
        "meta.llama3-3",
        "mistral.",
        "cohere.",
        "ai21.",
        "deepseek.",
        "writer.",
    ];
    let base = base_model_id(model);
    if WITH.iter().any(|p| base.starts_with(p)) || base.starts_with("meta.llama4") {
        Some(true)
    } else if WITHOUT.iter().any(|p| base.starts_with(p)) && !base.starts_with("mistral.pixtral") {
        Some(false)
    } else {
        None
    }
}

/// Whether Converse takes documents for this model: every family the
/// guide's table lists does, except Titan Text Premier.
pub(crate) fn takes_documents(model: &str) -> Option<bool> {
    if base_model_id(model).starts_with("amazon.titan-text-premier") {
        Some(false)
    } else {
        None
    }
}

/// Whether the workshop flow folds the system prompt into the user message
/// for this model, as the Python tool did for Titan and Mistral models.
pub(crate) fn folds_system(model: &str) -> bool {
    let base = base_model_id(model);
    !supports_system(model) || base.starts_with("amazon.titan") || base.starts_with("mistral.")
}

/// The inference-profile prefix for a region (`us`, `eu`, `apac`), for the
/// hint when a model needs a profile for on-demand use.
pub(crate) fn profile_prefix(region: &str) -> &'static str {
    if region.starts_with("eu-") {
        "eu"
    } else if region.starts_with("ap-") {
        "apac"
    } else if region.starts_with("us-gov-") {
        "us-gov"
    } else {
        "us"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert_eq!(
            base_model_id("us.anthropic.claude-3-haiku-20240307-v1:0"),
            "anthropic.claude-3-haiku-20240307-v1:0"
        );
        assert_eq!(
            base_model_id(
                "arn:aws:bedrock:us-west-2::foundation-model/meta.llama3-8b-instruct-v1:0"
            ),
            "meta.llama3-8b-instruct-v1:0"
        );
        assert!(folds_system("mistral.mistral-large-2407-v1:0"));
        assert!(folds_system("cohere.command-text-v14"));
        assert!(!folds_system("cohere.command-r-plus-v1:0"));
        assert!(folds_system("amazon.titan-text-lite-v1"));
        assert!(!folds_system("anthropic.claude-v2"));
        assert_eq!(profile_prefix("eu-central-1"), "eu");
        assert_eq!(profile_prefix("ap-southeast-2"), "apac");
    }

    /// Which models take a system prompt in Converse, after AWS's table;
    /// a rule broken in either direction fails here.
    #[test]
    fn system_prompt_support_follows_the_converse_feature_table() {
        for (model, takes) in [
            ("anthropic.claude-3-haiku-20240307-v1:0", true),
            ("us.anthropic.claude-3-7-sonnet-20250219-v1:0", true),
            ("amazon.nova-pro-v1:0", true),
            ("amazon.titan-text-express-v1", false),
            ("amazon.titan-text-premier-v1:0", false),
            ("meta.llama3-1-8b-instruct-v1:0", true),
            ("mistral.mistral-7b-instruct-v0:2", false),
            ("mistral.mixtral-8x7b-instruct-v0:1", false),
            ("mistral.mistral-large-2407-v1:0", true),
            ("cohere.command-text-v14", false),
            ("cohere.command-light-text-v14", false),
            ("cohere.command-r-plus-v1:0", true),
            ("ai21.j2-ultra-v1", false),
            ("ai21.jamba-1-5-large-v1:0", true),
            ("us.deepseek.r1-v1:0", true),
        ] {
            assert_eq!(supports_system(model), takes, "{model}");
        }
    }
}
