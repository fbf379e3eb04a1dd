import type { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';

/**
 * Lambda-error alarms that page on faults, not on user input.
 *
 * A stage that refuses a photo (ValidateImage: not an image, unsupported, too large;
 * AnalyzePet: not a pet) answers Step Functions with a Lambda error, because the ASL's Catch
 * matches the error name; Lambda's `Errors` metric counts it like a crash. Those stages also
 * write an EMF `StageErrors` count by `Stage` and `ErrorType` (handlers/src/lambda/stage.rs,
 * telemetry::emf), filed under the invocation's start time — the time Lambda files `Errors`
 * under — so the alarm's metric is
 *
 *     FILL(errors, 0) - (FILL(rejected_1, 0) + … + FILL(rejected_n, 0))
 *
 * with one `StageErrors` series per rejection name the ASL routes to `RecordRejection`.
 * A crash, a Lambda timeout or an out-of-memory kill writes no `StageErrors` line and still
 * counts; so does any other error name.
 */

/** The EMF contract with telemetry::emf (namespace, the `Service` dimension, the metric). */
export const EMF_NAMESPACE = 'PetAvatar';
export const EMF_SERVICE = 'petavatar';
export const STAGE_ERRORS_METRIC = 'StageErrors';

/** The `StageErrors` count of one stage and one error name. */
export function stageErrorsMetric(stage: string, errorType: string, period: Duration): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: EMF_NAMESPACE,
    metricName: STAGE_ERRORS_METRIC,
    dimensionsMap: { Service: EMF_SERVICE, Stage: stage, ErrorType: errorType },
    statistic: 'Sum',
    period,
  });
}

/**
 * What a function's errors alarm watches: plain `Errors` when the function rejects nothing,
 * else `Errors` less the rejections of `stage` named in `rejections`.
 */
export function faultErrorsMetric(
  fn: lambda.IFunction,
  stage: string,
  rejections: readonly string[],
  period: Duration,
): cloudwatch.IMetric {
  const errors = fn.metricErrors({ period, statistic: 'Sum' });
  if (rejections.length === 0) return errors;
  const usingMetrics: Record<string, cloudwatch.IMetric> = { errors };
  const terms = rejections.map((errorType, i) => {
    usingMetrics[`rejected${i}`] = stageErrorsMetric(stage, errorType, period);
    return `FILL(rejected${i}, 0)`;
  });
  return new cloudwatch.MathExpression({
    expression: `FILL(errors, 0) - (${terms.join(' + ')})`,
    usingMetrics,
    period,
    label: `${stage} errors other than rejected photos (${rejections.join(', ')})`,
  });
}
