//! Which model to call: `--model` (an alias from `[models]`, its number in
//! the menu, or a model or inference-profile id), else `ModelID`, else a
//! numbered menu on a terminal, else an error that lists the aliases.

use crate::config::{Config, ModelAlias};
use crate::error::{Error, Result};
use crate::prompt::Prompter;

/// The chosen model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModelChoice {
    /// The model or inference-profile id sent to Bedrock.
    pub(crate) id: String,
    /// The alias it was chosen by, if any.
    pub(crate) alias: Option<String>,
}

impl std::fmt::Display for ModelChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.alias {
            Some(a) => write!(f, "{} ({a})", self.id),
            None => f.write_str(&self.id),
        }
    }
}

/// Resolves a name: alias (any case), menu number, or an id (anything with a dot).
pub(crate) fn lookup(name: &str, models: &[ModelAlias]) -> Option<ModelChoice> {
    let name = name.trim();
    if let Some(m) = models.iter().find(|m| m.alias.eq_ignore_ascii_case(name)) {
        return Some(ModelChoice {
            id: m.id.clone(),
            alias: Some(m.alias.clone()),
        });
    }
    if let Ok(n) = name.parse::<usize>() {
        return models.get(n.checked_sub(1)?).map(|m| ModelChoice {
            id: m.id.clone(),
            alias: Some(m.alias.clone()),
        });
    }
    (name.contains('.') || name.starts_with("arn:")).then(|| ModelChoice {
        id: name.to_string(),
        alias: models
            .iter()
            .find(|m| m.id == name)
            .map(|m| m.alias.clone()),
    })
}

/// The `[models]` list as the menu and `invoke models` show it.
pub(crate) fn menu(models: &[ModelAlias]) -> Vec<String> {
    let width = models.iter().map(|m| m.alias.len()).max().unwrap_or(0);
    models
        .iter()
        .enumerate()
        .map(|(i, m)| format!("{:>3}. {:<width$}  {}", i + 1, m.alias, m.id))
        .collect()
}

/// Chooses the model for a call.
pub(crate) fn choose(
    flag: Option<&str>,
    config: &Config,
    interactive: bool,
    prompter: &mut dyn Prompter,
) -> Result<ModelChoice> {
    let aliases = |name: &str| {
        let guess =
            crate::config::schema::closest(name, config.models.iter().map(|m| m.alias.as_str()))
                .map(|a| format!("did you mean {a}? "))
                .unwrap_or_default();
        guess
            + &if config.models.is_empty() {
                "the config has no [models] section".to_string()
            } else {
                let names: Vec<&str> = config.models.iter().map(|m| m.alias.as_str()).collect();
                format!("aliases: {}", names.join(", "))
            }
    };
    if let Some(name) = flag {
        if name.trim().is_empty() {
            return Err(Error::Usage(
                "--model is empty: give an alias from [models], its number, or a model id".into(),
            ));
        }
        return lookup(name, &config.models).ok_or_else(|| {
            let numbers = match config.models.len() {
                0 => String::new(),
                n => format!(", a number from 1 to {n}"),
            };
            Error::Usage(format!(
                "--model {name}: not an alias{numbers} or a model id; {}",
                aliases(name)
            ))
        });
    }
    if let Some(name) = &config.model_id {
        return lookup(name, &config.models).ok_or_else(|| {
            Error::Usage(format!(
                "ModelID = {name}: not an alias or a model id; {}",
                aliases(name)
            ))
        });
    }
    if interactive && !config.models.is_empty() {
        for line in menu(&config.models) {
            eprintln!("{line}");
        }
        loop {
            let answer = prompter
                .line(&format!("Model (1-{}): ", config.models.len()))?
                .ok_or(Error::Interrupted)?;
            match lookup(&answer, &config.models) {
                Some(choice) => return Ok(choice),
                None => eprintln!(
                    "not a model: {answer}{}",
                    crate::config::schema::closest(
                        answer.trim(),
                        config.models.iter().map(|m| m.alias.as_str())
                    )
                    .map(|a| format!(" (did you mean {a}?)"))
                    .unwrap_or_default()
                ),
            }
        }
    }
    Err(Error::Usage(format!(
        "no model chosen: give --model ALIAS or set ModelID in the config; {}",
        aliases("")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn models() -> Vec<ModelAlias> {
        vec![
            ModelAlias {
                alias: "Claude-3-Haiku".into(),
                id: "anthropic.claude-3-haiku-20240307-v1:0".into(),
            },
            ModelAlias {
                alias: "Titan-Text".into(),
                id: "amazon.titan-text-express-v1".into(),
            },
        ]
    }

    #[test]
    fn alias_number_and_id() {
        let m = models();
        assert_eq!(
            lookup("claude-3-haiku", &m).unwrap().id,
            "anthropic.claude-3-haiku-20240307-v1:0"
        );
        assert_eq!(
            lookup("2", &m).unwrap().alias.as_deref(),
            Some("Titan-Text")
        );
        assert_eq!(lookup("3", &m), None);
        assert_eq!(lookup("0", &m), None);
        assert_eq!(
            lookup("us.meta.llama3-2-1b-instruct-v1:0", &m)
                .unwrap()
                .alias,
            None
        );
        assert_eq!(
            lookup("amazon.titan-text-express-v1", &m)
                .unwrap()
                .alias
                .as_deref(),
            Some("Titan-Text")
        );
        assert_eq!(lookup("nonsense", &m), None);
        assert_eq!(
            menu(&m)[1],
            "  2. Titan-Text      amazon.titan-text-express-v1"
        );
    }
}
