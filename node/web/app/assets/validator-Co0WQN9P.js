import{bn as i}from"./index-CPb_fp6P.js";const e=o=>["",...i].includes(o);export{e as i};
