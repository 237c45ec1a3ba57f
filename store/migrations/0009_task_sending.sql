-- A chat message is repeated, saying so, only when an earlier attempt may
-- really have sent it. `sending` is set by the holder just before the send
-- (Store.BeginSend) and cleared by every claim; `maybe_sent` is set by a
-- claim that finds the previous holder gone mid-send, or by a retry after a
-- send that got no answer, and stays set: once a message may have gone out,
-- every later attempt says it may repeat.
ALTER TABLE tasks ADD COLUMN sending INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN maybe_sent INTEGER NOT NULL DEFAULT 0;
