/**
 * Switchboard's supervision library: OTP-style supervisors for in-thread services,
 * worker threads and child processes. Generic; it knows nothing of chat. See README.md.
 */
export { Supervisor, type ReportListener } from './supervisor.js';
export type { SupervisorOptions } from './supervisor_options.js';
export { supervisorChild, supervisorSpec, type NestedSupervisorOptions } from './supervisor_child.js';

export {
  validateChildSpec,
  validateChildSpecs,
  DEFAULT_WORKER_SHUTDOWN_MS,
  RESTART_TYPES,
  CHILD_TYPES,
  type ChildSpec,
  type ChildSpecInput,
} from './child_spec.js';
export type { ChildType, RestartType, Shutdown } from './types.js';
export type { ChildHandle, ChildIdentity, StartContext, StartFn } from './child_handle.js';
export { actionAfterExit, isAbnormal, summarizeReason, type ExitAction, type ExitReason } from './exit_reason.js';
export { admitRestart, DEFAULT_RESTART_LIMITS, type RestartLimits, type WindowVerdict } from './restart_window.js';
export { restartGroup, STRATEGIES, type Strategy } from './strategy.js';
export { shutdownChild, type ShutdownOutcome } from './shutdown.js';

export { serviceChild, type Service, type ServiceContext } from './service_child.js';
export { threadChild, type HeartbeatOptions, type ThreadChildOptions } from './thread_child.js';
export { serveSupervisor, type ThreadSide, type ThreadSideOptions } from './thread_side.js';
export type { SupervisorToThread, ThreadToSupervisor } from './thread_messages.js';
export { processChild, nodeProcessChild, type ProcessChildOptions } from './process_child.js';

export { formatTree, type ChildState, type ChildStatus, type SupervisorState, type SupervisorTree } from './tree.js';
export { errorInfo, formatReportLine, reasonInfo, type ErrorInfo, type ReasonInfo, type ReportKind, type SupervisorReport } from './reports.js';
export { exitHostOnGiveUp, HOST_EXIT_CODES, type HostExitOptions, type TopLevel } from './host_exit.js';
export { waitForReport } from './wait_for_report.js';
export { systemClock, type Clock, type TimerHandle } from './clock.js';
export { ManualClock } from './manual_clock.js';

export {
  SUPERVISOR_ERROR_CODES,
  SupervisorError,
  ChildSpecError,
  SupervisorOptionsError,
  DuplicateChildError,
  UnknownChildError,
  ChildRunningError,
  ChildStartError,
  SupervisorNotRunningError,
  SupervisorGaveUpError,
  ChildHungError,
  ThreadExitError,
  ProcessExitError,
  ServiceFailedError,
  type SupervisorErrorCode,
} from './errors.js';
export { ServiceRegistry, ServiceUnavailableError } from './service_registry.js';
