package venue

// LoseReply makes the venue treat presentation as one whose last Admit may have
// committed without an answer (a reply lost), as an attempt ending unavailable does.
func (v *Venue) LoseReply(presentation string) { v.uncertain.put(presentation) }
