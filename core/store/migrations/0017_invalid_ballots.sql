-- Ballots that are not judgements (issue 16): a ballot whose reason copies the prompt or repeats another
-- agency's word for word counts as an abstention (the Guardian's fails closed); why, or NULL for a valid vote.
-- Numbered 0016 so as not to collide with the gate's 0014 and 0015 on parallel branches.
ALTER TABLE votes ADD COLUMN invalid TEXT;
