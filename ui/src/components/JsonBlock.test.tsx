// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { JsonBlock } from './JsonBlock';

afterEach(cleanup);

describe('JsonBlock', () => {
  it('serialises its value only once opened, and shows it as text', () => {
    const { container } = render(<JsonBlock label="Result data" value={{ severity: 'high', note: '<b>x</b>' }} />);
    expect(container.querySelector('pre')).toBeNull();
    const details = container.querySelector('details')!;
    details.open = true;
    fireEvent(details, new Event('toggle'));
    const pre = container.querySelector('pre')!;
    expect(JSON.parse(pre.textContent!)).toEqual({ severity: 'high', note: '<b>x</b>' });
    expect(pre.querySelector('b')).toBeNull();
    expect(screen.getByText('Result data')).toBeTruthy();
  });

  it('says none for an empty value', () => {
    render(<JsonBlock label="Input manifest" value={{}} />);
    expect(screen.getByText('none')).toBeTruthy();
  });
});
