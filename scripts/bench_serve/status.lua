-- wrk script for scripts/bench-serve: GET /status/{job_id} of a real, completed job with the
-- API key in x-api-key (from the environment, so the key is never on a command line).
local key = os.getenv("PETAVATAR_KEY")
if key == nil or key == "" then
  error("PETAVATAR_KEY is not set")
end
wrk.method = "GET"
wrk.headers["x-api-key"] = key
wrk.headers["accept"] = "application/json"
