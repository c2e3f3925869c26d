-- Argo CD health check for realtime.fleetwire.io/RealtimeService.
-- It reads the kstatus conditions the operator keeps in status:
--   Stalled=True      -> Degraded    (it cannot progress until something changes)
--   Degraded=True     -> Degraded    (it runs, but not as asked)
--   Reconciling=True  -> Progressing (a rollout or a retry is under way)
--   Ready=True        -> Healthy
-- and Progressing until the operator has acted on the latest spec
-- (status.observedGeneration below metadata.generation).
-- Install it under resource.customizations.health.realtime.fleetwire.io_RealtimeService
-- in argocd-cm (docs/gitops.md).
local hs = {status = "Progressing", message = "Waiting for the operator to report status"}
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
local generation = obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.message = "Waiting for the operator to act on generation " .. tostring(generation)
  return hs
end
local conditions = {}
for _, c in ipairs(obj.status.conditions) do
  conditions[c.type] = c
end
local function describe(c)
  local text = c.reason or c.type
  if c.message ~= nil and c.message ~= "" then
    text = text .. ": " .. c.message
  end
  return text
end
-- The first condition that holds decides, in this order.
local rules = {
  {type = "Stalled", status = "Degraded"},
  {type = "Degraded", status = "Degraded"},
  {type = "Reconciling", status = "Progressing"},
  {type = "Ready", status = "Healthy"},
}
for _, rule in ipairs(rules) do
  local c = conditions[rule.type]
  if c ~= nil and c.status == "True" then
    return {status = rule.status, message = describe(c)}
  end
end
if conditions["Ready"] ~= nil then
  hs.message = describe(conditions["Ready"])
end
return hs
