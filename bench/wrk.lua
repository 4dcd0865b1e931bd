-- wrk script for bench/serve: request headers come from the script arguments
-- (`wrk ... -s wrk.lua URL -- "If-None-Match: \"x\"" "Accept-Encoding: gzip"`), and the
-- summary is printed as one JSON line (prefixed "BENCH ") for bench/serve to parse.

init = function(args)
   for _, arg in ipairs(args) do
      local name, value = arg:match("^([^:]+):%s*(.*)$")
      if name then
         wrk.headers[name] = value
      end
   end
end

done = function(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH {"requests": %d, "bytes": %d, "duration_us": %d, ' ..
      '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d, ' ..
      '"p50_us": %d, "p99_us": %d}\n',
      summary.requests, summary.bytes, summary.duration,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(99)))
end
