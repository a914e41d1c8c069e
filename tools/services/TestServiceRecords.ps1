# Dot-sourced by Start-TestServices.ps1 and Stop-TestServices.ps1: the record of a service the start script started,
# <state directory>/<name>.pid.json, so that the stop script stops exactly those processes and nothing else.
# A record holds the process id and the process's start time (field 22 of /proc/<pid>/stat, fixed for a process's
# life): a process id the system has since given to another process does not match, and is left alone.

function Get-ProcessStartTicks([int] $ProcessId) {
    <# The start time of a live (not zombie) process, or $null when there is none with that id. #>
    $stat = "/proc/$ProcessId/stat"
    $text = try { [IO.File]::ReadAllText($stat) } catch { return $null }
    # The command name (field 2) is in parentheses and may hold spaces: count fields after its closing parenthesis.
    $fields = $text.Substring($text.LastIndexOf(')') + 2).Split(' ')
    if ($fields[0] -eq 'Z') { return $null }
    $fields[19]
}

function Save-TestServiceRecord([string] $StateDirectory, [string] $Name, [int] $ProcessId, [string] $Program) {
    [pscustomobject]@{ Name = $Name; ProcessId = $ProcessId; StartTicks = Get-ProcessStartTicks $ProcessId; Program = $Program } |
        ConvertTo-Json | Set-Content (Join-Path $StateDirectory "$Name.pid.json")
}

function Get-TestServiceRecord([string] $StateDirectory) {
    Get-ChildItem -Path $StateDirectory -Filter '*.pid.json' -ErrorAction SilentlyContinue | ForEach-Object {
        $record = Get-Content $_.FullName -Raw | ConvertFrom-Json
        $record | Add-Member -NotePropertyName Path -NotePropertyValue $_.FullName -PassThru
    }
}

function Test-TestServiceRunning($Record) {
    <# True while the process the record names still runs (the same process: same id and start time). #>
    $ticks = Get-ProcessStartTicks $Record.ProcessId
    $null -ne $ticks -and $ticks -eq $Record.StartTicks
}
