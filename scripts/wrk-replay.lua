-- wrk script for mcpmsg-bench's cross-check (--parts wrk): replays the
-- pre-signed JSON-RPC bodies of BODIES_FILE (one per line), each once, as
-- POSTs to the MCP endpoint, and counts tool results that were refused.
-- Run with one wrk thread (-t1): each thread has its own Lua state, and a
-- body replayed twice would be answered as a duplicate, a cheaper path.
local bodies = {}
local next_body = 1
-- A global: done() runs in the main state and reads it from the thread's.
refused = 0
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
    refused = refused + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do
    total = total + (t:get("refused") or 0)
  end
  io.write(string.format("mcpmsg-refused %d\n", total))
end
