"""Case handling at the desk: internal notes, attachments, extension requests, supervision (督办), reply templates."""
