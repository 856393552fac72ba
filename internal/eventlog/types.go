package eventlog

// Type is the kind of a job event: the SSE event name and the event_type
// field of the wire shape.
type Type string

// The original's event types (data keys in the comments are its), then
// this project's own. The UI's list of event names
// (ui/src/lib/api/events.ts, JOB_EVENT_TYPES) must equal Types; a test
// checks it.
const (
	Created                 Type = "created"                   // input_manifest
	FileUploaded            Type = "file-uploaded"             // file_id, filename, size, content_type
	Started                 Type = "started"                   // worker_id
	WorkerAssigned          Type = "worker-assigned"           // worker_id
	AnalysisPhase           Type = "analysis-phase"            // phase, status
	FileProcessingStarted   Type = "file-processing-started"   // file_id, filename, size
	FileProcessingCompleted Type = "file-processing-completed" // file_id, filename, ...
	ConversationTurn        Type = "conversation-turn"         // count, latest_sequence, roles, provider, model, mode
	TicketCreated           Type = "ticket-created"            // ticket_id, platform, status, dry_run
	Completed               Type = "completed"                 // result
	Failed                  Type = "failed"                    // error
	Cancelled               Type = "cancelled"                 // reason

	// Retrying: an attempt ended without an outcome (its worker failed or
	// lost its lease) and the job waits for another; data: attempt, error,
	// run_after.
	Retrying Type = "retrying"

	// AnalysisProgress: how far a running analysis has read (the original
	// had no progress event); data: phase, bytes_read, bytes_total,
	// percent, and file_id, filename of the file being read. At most a few
	// a second per job.
	AnalysisProgress Type = "analysis-progress"
)

// Types lists every event type, in the order of the constants.
var Types = []Type{
	Created, FileUploaded, Started, WorkerAssigned, AnalysisPhase, FileProcessingStarted,
	FileProcessingCompleted, ConversationTurn, TicketCreated, Completed, Failed, Cancelled, Retrying,
	AnalysisProgress,
}
