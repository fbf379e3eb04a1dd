//! A Bedrock call refused for lack of access, as the job's error: the Step Functions console
//! shows this message as the execution's cause, so it names the model, the region, what AWS
//! said and what a person has to enable.

use std::fmt;

/// Which prerequisite AWS's message points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remedy {
    /// The first call of a Marketplace model subscribes the account, which the caller's role
    /// must be allowed to do (`aws-marketplace:Subscribe` / `ViewSubscriptions`).
    Marketplace,
    /// Anthropic models need a one-time use-case form per account.
    UseCaseForm,
    /// Anything else: model access, the role's `bedrock:InvokeModel`, a denying SCP.
    Access,
}

impl Remedy {
    /// Reads AWS's message (e.g. "… not authorized to perform the required AWS Marketplace
    /// actions (aws-marketplace:ViewSubscriptions, aws-marketplace:Subscribe) …").
    pub fn from_message(message: &str) -> Self {
        let lower = message.to_lowercase();
        if lower.contains("marketplace") {
            Remedy::Marketplace
        } else if lower.contains("use case") {
            Remedy::UseCaseForm
        } else {
            Remedy::Access
        }
    }
}

impl fmt::Display for Remedy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Remedy::Marketplace => {
                "To enable it: the function's role needs aws-marketplace:Subscribe (scoped to the model's product id) and \
                 aws-marketplace:ViewSubscriptions for the model's first call (infra grants both; for a model it does not know, \
                 deploy with -c marketplaceProductIds=<product id>), and the account a valid payment method; \
                 the subscription then takes up to 15 minutes."
            }
            Remedy::UseCaseForm => {
                "To enable it: submit Anthropic's one-time use-case form (Bedrock console > Model catalog > the model), \
                 then run the job again."
            }
            Remedy::Access => {
                "To enable it: check in the Bedrock console of that region (Model catalog) that the model is available to \
                 the account, that the function's role may bedrock:InvokeModel on it (and on its inference profile), and \
                 that no SCP denies it; `npm run preflight` in infra/ checks the account."
            }
        })
    }
}

/// Bedrock answered AccessDeniedException.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Bedrock denied access to model {model_id} in {region}: {aws_message}. {remedy}")]
pub struct ModelAccessDenied {
    pub model_id: String,
    pub region: String,
    pub aws_message: String,
    pub remedy: Remedy,
}

impl ModelAccessDenied {
    pub fn new(model_id: &str, region: Option<&str>, aws_message: &str) -> Self {
        Self {
            model_id: model_id.to_owned(),
            region: region.unwrap_or("the function's region").to_owned(),
            aws_message: aws_message.trim_end_matches('.').to_owned(),
            remedy: Remedy::from_message(aws_message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_remedy_follows_what_aws_said() {
        let marketplace = "Model access is denied due to IAM user or service role is not authorized to perform the required AWS Marketplace actions (aws-marketplace:ViewSubscriptions, aws-marketplace:Subscribe) to enable access to this model.";
        assert_eq!(Remedy::from_message(marketplace), Remedy::Marketplace);
        let form = "Model use case details have not been submitted for this account. Fill out the Anthropic use case details form before using the model.";
        assert_eq!(Remedy::from_message(form), Remedy::UseCaseForm);
        let plain = "You don't have access to the model with the specified model ID.";
        assert_eq!(Remedy::from_message(plain), Remedy::Access);
    }

    #[test]
    fn the_message_names_model_region_cause_and_fix() {
        let e = ModelAccessDenied::new(
            "stability.stable-image-core-v1:1",
            Some("us-west-2"),
            "You don't have access to the model with the specified model ID.",
        );
        let text = e.to_string();
        assert!(text.starts_with("Bedrock denied access to model stability.stable-image-core-v1:1 in us-west-2: You don't have access to the model with the specified model ID. To enable it:"), "{text}");
        assert!(text.contains("bedrock:InvokeModel"), "{text}");
    }
}
