import type { ReactNode } from 'react';

export interface FieldA11y {
  id: string;
  'aria-invalid'?: true;
  'aria-describedby'?: string;
}

/**
 * A labelled form control with its hint and its error (from a 422
 * problem's `errors`) shown under it and tied to it for screen readers.
 */
export function Field(props: {
  id: string;
  label: ReactNode;
  error?: string | undefined;
  hint?: ReactNode;
  className?: string;
  children: (a11y: FieldA11y) => ReactNode;
}) {
  const { id, label, error, hint, className, children } = props;
  const hintId = hint ? `${id}-hint` : undefined;
  const errorId = error ? `${id}-error` : undefined;
  const describedBy = [errorId, hintId].filter(Boolean).join(' ') || undefined;
  const a11y: FieldA11y = { id };
  if (error) a11y['aria-invalid'] = true;
  if (describedBy) a11y['aria-describedby'] = describedBy;
  return (
    <div className={`field${error ? ' field-invalid' : ''}${className ? ' ' + className : ''}`}>
      <label htmlFor={id}>{label}</label>
      {children(a11y)}
      {hint ? (
        <p className="field-hint" id={hintId}>
          {hint}
        </p>
      ) : null}
      {error ? (
        <p className="field-error" id={errorId}>
          {error}
        </p>
      ) : null}
    </div>
  );
}

/** A checkbox with its label after it. */
export function CheckboxField(props: {
  id: string;
  label: ReactNode;
  checked: boolean;
  onChange: (checked: boolean) => void;
  disabled?: boolean;
  error?: string | undefined;
  hint?: ReactNode;
  describedBy?: string | undefined;
  title?: string | undefined;
}) {
  const { id, label, checked, onChange, disabled, error, hint, describedBy, title } = props;
  const ids = [error ? `${id}-error` : '', hint ? `${id}-hint` : '', describedBy ?? ''].filter(Boolean).join(' ');
  return (
    <div className={`field field-check${error ? ' field-invalid' : ''}`}>
      <input
        type="checkbox"
        id={id}
        checked={checked}
        disabled={disabled}
        title={title}
        onChange={(e) => onChange(e.target.checked)}
        aria-invalid={error ? true : undefined}
        aria-describedby={ids || undefined}
      />
      <label htmlFor={id}>{label}</label>
      {hint ? (
        <p className="field-hint" id={`${id}-hint`}>
          {hint}
        </p>
      ) : null}
      {error ? (
        <p className="field-error" id={`${id}-error`}>
          {error}
        </p>
      ) : null}
    </div>
  );
}
