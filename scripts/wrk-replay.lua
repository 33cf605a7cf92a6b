-- wrk script for mcpmsg-bench's cross-check (--parts wrk): replays the
-- pre-signed JSON-RPC bodies of BODIES_FILE (one per line), each once, as
-- POSTs to the MCP endpoint, and counts tool results that were refused.
-- Run with one wrk thread (-t1): each thread has its own Lua state, and a
-- body replayed twice would be answered as a duplicate, a cheaper path.
local bodies = {}
local next_body = 1
-- Globals: done() runs in the main state and reads them from the thread's
-- (numbers and strings only cross): the count, and the first refusal's code.
refused = 0
first_code = ""
local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

function init(args)
  for line in io.lines(args[1]) do
    bodies[#bodies + 1] = line
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json, text/event-stream"
  wrk.headers["MCP-Protocol-Version"] = args[2]
end

function request()
  local body = bodies[next_body]
  if body == nil then
    -- Out of bodies: the round ran longer than it was signed for.
    body = bodies[#bodies]
  end
  next_body = next_body + 1
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status ~= 200 or string.find(body, '"isError":true', 1, true) then
    if refused == 0 then
      first_code = string.match(body, '"code":"([a-z_]+)"') or ("HTTP " .. status)
    end
    refused = refused + 1
  end
end

function done(summary, latency, requests)
  local total, code = 0, ""
  for _, t in ipairs(threads) do
    total = total + (t:get("refused") or 0)
    if code == "" then code = t:get("first_code") or "" end
  end
  io.write(string.format("mcpmsg-refused %d\n", total))
  io.write(string.format("mcpmsg-first-refusal %s\n", code))
end
