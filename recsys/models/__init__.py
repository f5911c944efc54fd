"""Item towers (item index -> embedding) and the SASRec user encoder."""
